/**
 * Writes the private JWKS of JWT_SIGNING_KEYS_FILE, and rotates it in steps (each followed by a
 * rolling restart of every instance; docs/configuration.md gives the procedure and its waits):
 *   npm run keys -- keys.json                   a new set with one key
 *   npm run keys -- keys.json --next            step 1: adds a key marked "next": published in the
 *                                               JWKS and verifying, not signing
 *   npm run keys -- keys.json --promote         step 2: the next key signs; the key it replaces
 *                                               keeps verifying
 *   npm run keys -- keys.json --retire <kid>    step 3: removes a key that no longer signs
 *   npm run keys -- keys.json --rotate          the same as --next (it signed at once, before)
 *   npm run keys -- keys.json --list            the keys, their algorithms and roles
 *   options: --alg ES256|EdDSA|RS256|PS256 (default ES256) for a new set and --next
 *   npm run keys -- --at-rest [kid]             prints one SESSION_KEY_ENCRYPTION_KEYS entry (kid:base64 key)
 * The file is written with mode 0600, and never inside a git work tree that does not ignore it (exit 2):
 * keep it outside the repository, or in an ignored place such as secrets/ (this repository ignores it).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import {
  addNextKey,
  generatePrivateJwks,
  KeySetError,
  keySetFromJwks,
  promoteNextKey,
  retireKey,
  type SigningAlgorithm,
  SUPPORTED_ALGORITHMS,
} from '../src/tokens/index.js';

const args = process.argv.slice(2);
if (args[0] === '--at-rest') {
  const kid = args[1] ?? new Date().toISOString().slice(0, 10).replaceAll('-', '');
  process.stdout.write(`${kid}:${randomBytes(32).toString('base64')}\n`);
  process.exit(0);
}

const flagValue = (flag: string) => {
  const index = args.indexOf(flag);
  return index >= 0 ? args[index + 1] : undefined;
};
const values = new Set([flagValue('--alg'), flagValue('--retire')]);
const file = args.find((a) => !a.startsWith('--') && !values.has(a));
const alg = (flagValue('--alg') ?? 'ES256') as SigningAlgorithm;
const steps = ['--next', '--rotate', '--promote', '--retire', '--list'].filter((s) => args.includes(s));
const usage = `usage: npm run keys -- <file> [--next | --promote | --retire <kid> | --list] [--alg ${SUPPORTED_ALGORITHMS.join('|')}]\n`;

if (!file || !(SUPPORTED_ALGORITHMS as readonly string[]).includes(alg) || steps.length > 1) {
  process.stderr.write(usage);
  process.exit(2);
}
const step = steps[0];
if (step === '--retire' && !flagValue('--retire')) {
  process.stderr.write(usage);
  process.exit(2);
}
if (!step && existsSync(file)) {
  process.stderr.write(`${file} exists: rotate it with --next, then --promote\n`);
  process.exit(2);
}
if (step && !existsSync(file)) {
  process.stderr.write(`${file} does not exist: write a new set with npm run keys -- ${file}\n`);
  process.exit(2);
}
const risk = step === '--list' ? undefined : commitRisk(file);
if (risk) {
  process.stderr.write(`${risk}\n`);
  process.exit(2);
}

/**
 * Why a private key must not be written to `file`, or undefined. Inside a git work tree, a path git does
 * not ignore is one `git add .` away from a commit and a push, where a key cannot be taken back. Outside
 * any work tree (or with no git installed) nothing commits it by default.
 */
function commitRisk(file: string): string | undefined {
  // The folder may not exist yet (it is made below): ask git from the nearest one that does, by its
  // real path, as git names its top level (a symlinked temp folder would otherwise look outside it).
  let missing = basename(resolve(file));
  let dir = dirname(resolve(file));
  while (!existsSync(dir)) {
    missing = join(basename(dir), missing);
    dir = dirname(dir);
  }
  const path = join(realpathSync(dir), missing);
  let top: string;
  try {
    top = execFileSync('git', ['-C', dir, 'rev-parse', '--show-toplevel'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return undefined;
  }
  if (top === '') return undefined;
  try {
    // Exit 0: ignored. 1: not ignored (a tracked file too: git would commit its changes).
    execFileSync('git', ['-C', top, 'check-ignore', '-q', '--', relative(top, path)], { stdio: 'ignore' });
    return undefined;
  } catch {
    return `${file}: refusing to write a private key inside the git work tree ${top}, which does not ignore it (a commit would take it): write it outside the repository (e.g. /etc/wxauth/keys.json) or add its path, or a folder such as secrets/, to .gitignore`;
  }
}

try {
  const current = step ? (JSON.parse(readFileSync(file, 'utf8')) as unknown) : undefined;
  let jwks: unknown;
  switch (step) {
    case undefined:
      jwks = await generatePrivateJwks(alg);
      break;
    case '--next':
    case '--rotate':
      jwks = await addNextKey(current, alg);
      break;
    case '--promote':
      jwks = promoteNextKey(current);
      break;
    case '--retire':
      jwks = retireKey(current, flagValue('--retire')!);
      break;
    default:
      jwks = current;
  }
  // Refuse to write a set the service would not load.
  const keys = await keySetFromJwks(jwks);
  if (step !== '--list') {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, `${JSON.stringify(jwks, null, 2)}\n`, { mode: 0o600 });
    // The mode above applies only to a new file: one that others could read is made private again.
    chmodSync(file, 0o600);
  }
  const roles = keys.publicJwks.keys.map(
    (k) =>
      `  ${k.kid} ${k.alg} ${k.kid === keys.signing.kid ? 'signs' : keys.next.includes(k.kid!) ? 'next: published, not signing' : 'verifies only'}`,
  );
  process.stdout.write(
    `${step === '--list' ? '' : 'wrote '}${file}: ${keys.publicJwks.keys.length} key(s)\n${roles.join('\n')}\n`,
  );
  if (step === '--next' || step === '--rotate')
    process.stdout.write(
      'next: restart every instance, wait for the JWKS max-age (300 s), then run this with --promote\n',
    );
  if (step === '--promote')
    process.stdout.write(
      'next: restart every instance, wait ACCESS_TOKEN_TTL, then remove the old key with --retire <kid>\n',
    );
} catch (error) {
  if (!(error instanceof KeySetError || error instanceof SyntaxError)) throw error;
  process.stderr.write(`${file}: ${error.message}\n`);
  process.exit(1);
}
