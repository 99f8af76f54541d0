# wxauth's container image (docs/deploy.md). Build: docker build -t wxauth .
# Run: NODE_ENV=production is set; give it the settings of docs/production.md as environment variables
# and the signing keys as a mounted file (JWT_SIGNING_KEYS_FILE). Nothing secret is in the image.

# Stage 1: every dependency, the build, then the dev dependencies pruned away.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are here; the build is its own step below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/gen-keys.ts ./scripts/
# The service to dist/, and the key tool as one plain-JavaScript file beside it (the image has no
# TypeScript sources to run `npm run keys` from). An `npm ci` that could not reach the registry may still
# exit 0: the build then fails here for want of tsc, and the import after the prune fails if it removed
# a module the service loads.
RUN npm run build \
 && node_modules/.bin/esbuild scripts/gen-keys.ts --bundle --platform=node --format=esm \
      --packages=external --log-level=warning --outfile=dist/gen-keys.js \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && node --input-type=module -e "await import('./dist/deps.js'); await import('./dist/http/index.js')"

# Stage 2: Node, the production dependencies and dist/; nothing else.
FROM node:24-bookworm-slim
ENV NODE_ENV=production PORT=3000
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Where the compose file's key volume is mounted: owned by the non-root user, so that a new volume is too.
RUN mkdir -p /var/lib/wxauth/keys && chown -R node:node /var/lib/wxauth
USER node
EXPOSE 3000
# Node itself is PID 1 (the base image's entrypoint execs the command): SIGTERM reaches the server,
# which finishes requests in flight and exits 0 (SHUTDOWN_TIMEOUT_MS). `node dist/emulator/main.js`
# runs the WeChat emulator and `node dist/gen-keys.js <file>` writes a key set, from this same image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/server.js"]
