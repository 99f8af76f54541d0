/**
 * Writes the private JWKS of JWT_SIGNING_KEYS_FILE, and rotates it in steps (each followed by a
 * rolling restart of every instance; the README gives the procedure and its waits):
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
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
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
  if (step !== '--list') writeFileSync(file, `${JSON.stringify(jwks, null, 2)}\n`, { mode: 0o600 });
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
