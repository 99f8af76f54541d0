/**
 * Writes a new private JWKS for JWT_SIGNING_KEYS_FILE.
 *   npm run keys -- keys.json            a new set with one key
 *   npm run keys -- keys.json --rotate   prepends a new key to an existing set: it signs from the next
 *                                        start, the old keys still verify until you remove them
 *   options: --alg EdDSA|ES256|RS256|PS256 (default EdDSA)
 *   npm run keys -- --at-rest [kid]      prints one SESSION_KEY_ENCRYPTION_KEYS entry (kid:base64 key)
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import {
  generatePrivateJwks,
  keySetFromJwks,
  type SigningAlgorithm,
  SUPPORTED_ALGORITHMS,
} from '../src/tokens/index.js';

const args = process.argv.slice(2);
if (args[0] === '--at-rest') {
  const kid = args[1] ?? new Date().toISOString().slice(0, 10).replaceAll('-', '');
  process.stdout.write(`${kid}:${randomBytes(32).toString('base64')}\n`);
  process.exit(0);
}
const file = args.find((a) => !a.startsWith('--'));
const rotate = args.includes('--rotate');
const algIndex = args.indexOf('--alg');
const alg = (algIndex >= 0 ? args[algIndex + 1] : 'EdDSA') as SigningAlgorithm;

if (!file || !(SUPPORTED_ALGORITHMS as readonly string[]).includes(alg)) {
  process.stderr.write(
    `usage: npm run keys -- <file> [--rotate] [--alg ${SUPPORTED_ALGORITHMS.join('|')}]\n`,
  );
  process.exit(2);
}
if (existsSync(file) && !rotate) {
  process.stderr.write(`${file} exists: pass --rotate to add a new signing key in front of its keys\n`);
  process.exit(2);
}
const fresh = await generatePrivateJwks(alg);
const previous =
  rotate && existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { keys: unknown[] }).keys : [];
const jwks = { keys: [...fresh.keys, ...previous] };
await keySetFromJwks(jwks); // refuse to write a set the service would not load
writeFileSync(file, `${JSON.stringify(jwks, null, 2)}\n`, { mode: 0o600 });
process.stdout.write(
  `wrote ${file}: ${jwks.keys.length} key(s), signing kid ${fresh.keys[0]?.kid} (${alg})\n`,
);
