/**
 * Makes examples/miniprogram a project WeChat DevTools opens as is (examples/miniprogram/README.md):
 *   npm run example:miniprogram              builds the client (npm run build:client), then this copies
 *                                            dist/client into examples/miniprogram/lib/wxauth/
 *   npm run example:miniprogram -- <dir>     the same into another copy of the example (the tests' own)
 * The copy is what a mini-program of yours would hold too: wxauth is not an npm package DevTools' "Build
 * npm" could take (no `miniprogram` folder, a server's dependencies), so the pages import it by path.
 * It is git-ignored and made again on every run: nothing of an older build stays behind.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const ROOT = new URL('../', import.meta.url).pathname;
const BUILT = join(ROOT, 'dist/client');
/** Where the pages import it from: `./lib/wxauth/index` (auth.ts). */
const CLIENT_DIR = 'lib/wxauth';

const target = resolve(process.argv[2] ?? join(ROOT, 'examples/miniprogram'));
if (!existsSync(join(target, 'project.config.json'))) {
  process.stderr.write(
    `example:miniprogram: ${target} has no project.config.json: not the example's folder\n`,
  );
  process.exit(2);
}
if (!existsSync(join(BUILT, 'index.js'))) {
  process.stderr.write(
    'example:miniprogram: dist/client/index.js is missing: run `npm run build:client` first (npm run example:miniprogram does)\n',
  );
  process.exit(1);
}

const out = join(target, CLIENT_DIR);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
// The modules and their declarations: DevTools compiles the ES modules (project.config.json's es6), and
// the declarations are what the example's tsconfig.json type-checks the pages against.
const files = readdirSync(BUILT).filter((file) => file.endsWith('.js') || file.endsWith('.d.ts'));
for (const file of files) cpSync(join(BUILT, file), join(out, file));

const shown = relative(process.cwd(), target) || '.';
process.stdout.write(
  `The mini-program client (${files.length} files) is in ${join(shown, CLIENT_DIR)}.
Next: start wxauth (npm start), then open ${shown} in WeChat DevTools (Import project);
the steps are in examples/miniprogram/README.md.
`,
);
