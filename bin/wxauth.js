#!/usr/bin/env node
// What `npm start` and `npm run start:workers` run: the compiled service in dist/, or, when it was never
// built (an `npm ci --omit=dev` skips the build, which needs TypeScript), one line saying how to get it
// instead of Node's module-not-found stack. Plain JavaScript, so that it runs before any build.
import { existsSync } from 'node:fs';

const entry = process.argv[2] === 'workers' ? 'workers' : 'server';
const file = new URL(`../dist/${entry}.js`, import.meta.url);
if (!existsSync(file)) {
  process.stderr.write(
    `wxauth: cannot start: dist/${entry}.js is missing, so the service was not built: run \`npm run build\` (it needs the dev dependencies, so \`npm ci\` without --omit=dev), or build it where they are installed and copy dist/ here\n`,
  );
  process.exit(1);
}
await import(file.href);
