// What the chart must render (issue 25), beyond valid objects: probes, a grace period above
// SHUTDOWN_TIMEOUT_MS, the PDB, resources, secrets by reference, Prometheus annotations, the Redis
// topologies, the optional HPA. Reads the files check.sh's chart step rendered into <dir>.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

const dir = process.argv[2];
const render = (name) =>
  parseAllDocuments(readFileSync(join(dir, `${name}.yaml`), 'utf8'))
    .map((d) => d.toJS())
    .filter(Boolean);
const problems = [];
const expect = (ok, what) => {
  if (!ok) problems.push(what);
};
const find = (objs, kind) => objs.filter((o) => o.kind === kind);

for (const name of ['default', 'full', 'sentinel', 'cluster']) {
  const objs = render(name);
  const [deploy] = find(objs, 'Deployment');
  const pod = deploy?.spec.template;
  const c = pod?.spec.containers[0];
  const config = find(objs, 'ConfigMap')[0]?.data ?? {};
  expect(c?.readinessProbe?.httpGet?.path === '/readyz', `${name}: readiness on /readyz`);
  expect(c?.livenessProbe?.httpGet?.path === '/healthz', `${name}: liveness on /healthz`);
  const shutdownS = Number(config.SHUTDOWN_TIMEOUT_MS ?? 10000) / 1000;
  expect(
    pod?.spec.terminationGracePeriodSeconds > shutdownS,
    `${name}: terminationGracePeriodSeconds above SHUTDOWN_TIMEOUT_MS`,
  );
  expect(c?.resources?.requests?.cpu && c?.resources?.requests?.memory, `${name}: resource requests`);
  expect(
    pod?.metadata.annotations['prometheus.io/port'] === config.METRICS_PORT,
    `${name}: prometheus.io/port is METRICS_PORT`,
  );
  expect(config.NODE_ENV === 'production', `${name}: NODE_ENV=production`);
  expect(
    c?.securityContext?.runAsNonRoot !== false && pod?.spec.securityContext?.runAsNonRoot === true,
    `${name}: non-root`,
  );
  expect(find(objs, 'PodDisruptionBudget').length === 1, `${name}: a PodDisruptionBudget`);
  // Secrets only by reference: no secret value in the Deployment or the ConfigMap.
  const plain = JSON.stringify([deploy, config]);
  expect(
    !/WECHAT_SECRET|SESSION_KEY_ENCRYPTION_KEYS|ADMIN_API_KEYS|REDIS_URL/.test(plain),
    `${name}: a secret in the Deployment or ConfigMap`,
  );
  expect(
    c?.envFrom?.some((e) => e.secretRef),
    `${name}: settings from a Secret`,
  );
  expect(
    pod?.spec.volumes?.some((v) => v.secret),
    `${name}: signing keys from a Secret`,
  );
}
const full = render('full');
expect(find(full, 'HorizontalPodAutoscaler').length === 1, 'full: the HPA');
expect(find(full, 'Secret').length === 2, 'full: the settings and signing-key Secrets');
expect(find(full, 'Service').length === 2, 'full: the admin Service');
expect(
  find(full, 'Deployment')[0].spec.template.spec.terminationGracePeriodSeconds > 25,
  'full: grace above a 25 s SHUTDOWN_TIMEOUT_MS',
);
expect(find(render('default'), 'HorizontalPodAutoscaler').length === 0, 'default: no HPA');
const sentinel = find(render('sentinel'), 'ConfigMap')[0].data;
expect(
  sentinel.REDIS_SENTINELS === 's1:26379,s2:26379' && sentinel.REDIS_SENTINEL_NAME === 'mymaster',
  'sentinel: REDIS_SENTINELS and REDIS_SENTINEL_NAME',
);
expect(
  find(render('cluster'), 'ConfigMap')[0].data.REDIS_CLUSTER_NODES === 'c1:6379,c2:6379',
  'cluster: REDIS_CLUSTER_NODES',
);

// Several apps (docs/apps.md): the apps file in a ConfigMap of its own, mounted where WECHAT_APPS_FILE
// names it, no WECHAT_APPID; an app's secret only in the Secret, as WECHAT_SECRET_<APPID>.
const apps = render('apps');
const appsMaps = find(apps, 'ConfigMap');
const appsSettings = appsMaps.find((o) => o.data?.NODE_ENV === 'production')?.data ?? {};
const appsFile = appsMaps.find((o) => o.data?.['apps.json'] !== undefined)?.data['apps.json'];
expect(JSON.parse(appsFile ?? 'null')?.apps?.length === 5, 'apps: the apps file, as given, in a ConfigMap');
expect(
  appsSettings.WECHAT_APPS_FILE === '/etc/wxauth/apps/apps.json' && appsSettings.WECHAT_APPID === undefined,
  'apps: WECHAT_APPS_FILE names the mounted file, and no WECHAT_APPID',
);
const appsPod = find(apps, 'Deployment')[0]?.spec.template.spec;
expect(
  appsPod?.containers[0].volumeMounts?.some((m) => m.mountPath === '/etc/wxauth/apps' && m.readOnly) &&
    appsPod.volumes?.some((v) => v.configMap?.name === 'ci-wxauth-apps'),
  'apps: the apps file mounted read-only',
);
expect(
  find(apps, 'Secret')[0]?.stringData?.WECHAT_SECRET_WX1234567890ABCDEF === 'cicheckappsecret0001' &&
    !/cicheckappsecret/.test(JSON.stringify(appsMaps)),
  "apps: an app's secret in the Secret as WECHAT_SECRET_<APPID>, in no ConfigMap",
);

// The environment the full render gives the pod (ConfigMap, then Secret), for check.sh to start the
// image with: the service must accept every setting the chart writes.
const env = { ...find(full, 'ConfigMap')[0].data, ...find(full, 'Secret')[0].stringData };
writeFileSync(
  join(dir, 'full.env'),
  Object.entries(env)
    .map(([k, v]) => `${k}=${v}\n`)
    .join(''),
);

for (const p of problems) console.log(`FAIL ${p}`);
console.log(`chart expectations: ${problems.length ? `${problems.length} not met` : 'all met'}`);
process.exit(problems.length ? 1 : 0);
