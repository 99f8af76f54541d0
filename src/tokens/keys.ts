import { createPrivateKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';

/** Algorithms a key set may use; symmetric ones are refused so the JWKS can be published. */
export const SUPPORTED_ALGORITHMS = ['EdDSA', 'ES256', 'RS256', 'PS256'] as const;
export type SigningAlgorithm = (typeof SUPPORTED_ALGORITHMS)[number];

type VerifyKey = Awaited<ReturnType<typeof importJWK>>;

export interface KeySet {
  /**
   * The first key not marked `next`. A KeyObject made from the JWK by node:crypto, which signs with it
   * directly; jose signs with it too. Not a CryptoKey from importJWK: those are not extractable, and
   * Node 24 deprecates turning one into a KeyObject (DEP0204).
   */
  signing: { kid: string; alg: SigningAlgorithm; key: KeyObject };
  /** Keys marked `"next": true`: published and verifying, never signing (step 1 of a rotation). */
  next: string[];
  /** kid → public key. Looked up by exact kid only: a kid is a name, never a path or a URL. */
  verifying: ReadonlyMap<string, { alg: SigningAlgorithm; key: VerifyKey }>;
  algorithms: SigningAlgorithm[];
  /** The public halves, as served at /.well-known/jwks.json. */
  publicJwks: { keys: JWK[] };
  ephemeral: boolean;
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/**
 * The member of a private JWK that marks the next key of a rotation. It is ours, not RFC 7517's, and
 * never published. A next key is appended after the signing key, so that even a loader that does not
 * know this member (an older wxauth) still signs with the current one.
 */
export const NEXT_MEMBER = 'next';

type PrivateJwks = { keys: JWK[] };

export class KeySetError extends Error {
  override name = 'KeySetError';
}

function inferAlgorithm(jwk: JWK): SigningAlgorithm | undefined {
  if (jwk.alg)
    return (SUPPORTED_ALGORITHMS as readonly string[]).includes(jwk.alg)
      ? (jwk.alg as SigningAlgorithm)
      : undefined;
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  if (jwk.kty === 'RSA') return 'RS256';
  return undefined;
}

/**
 * Builds a KeySet from a private JWKS: the first key not marked `"next": true` signs, every key
 * verifies (and is published).
 */
export async function keySetFromJwks(jwks: unknown, ephemeral = false): Promise<KeySet> {
  const keys = (jwks as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0)
    throw new KeySetError('expected a JSON Web Key Set with at least one key');
  const verifying = new Map<string, { alg: SigningAlgorithm; key: VerifyKey }>();
  const publicKeys: JWK[] = [];
  let signing: KeySet['signing'] | undefined;
  const next: string[] = [];
  for (const [index, raw] of keys.entries()) {
    const { [NEXT_MEMBER]: isNext = false, ...jwk } = raw as JWK & { [NEXT_MEMBER]?: unknown };
    if (typeof isNext !== 'boolean')
      throw new KeySetError(`key ${index}: "${NEXT_MEMBER}" must be true or false`);
    const alg = inferAlgorithm(jwk);
    if (!alg)
      throw new KeySetError(
        `key ${index}: unsupported kty/alg (use one of ${SUPPORTED_ALGORITHMS.join(', ')})`,
      );
    if (typeof jwk.d !== 'string')
      throw new KeySetError(`key ${index}: a private key is required (no "d" member)`);
    const publicJwk: JWK = { ...jwk };
    for (const member of PRIVATE_MEMBERS) delete publicJwk[member];
    const kid = jwk.kid ?? (await calculateJwkThumbprint(publicJwk));
    if (verifying.has(kid)) throw new KeySetError(`key ${index}: duplicate kid ${kid}`);
    let privateKey: KeyObject;
    let publicKey: VerifyKey;
    try {
      privateKey = createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' });
      publicKey = await importJWK({ ...publicJwk, alg }, alg);
    } catch (cause) {
      throw new KeySetError(`key ${index}: ${(cause as Error).message}`);
    }
    verifying.set(kid, { alg, key: publicKey });
    publicKeys.push({ ...publicJwk, kid, alg, use: 'sig' });
    if (isNext) next.push(kid);
    else signing ??= { kid, alg, key: privateKey };
  }
  if (!signing)
    throw new KeySetError(
      `every key is marked "${NEXT_MEMBER}": promote one (npm run keys -- <file> --promote)`,
    );
  return {
    signing,
    next,
    verifying,
    algorithms: [...new Set([...verifying.values()].map((k) => k.alg))],
    publicJwks: { keys: publicKeys },
    ephemeral,
  };
}

export async function loadKeySet(file: string): Promise<KeySet> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new KeySetError(`cannot read ${file}: ${(cause as NodeJS.ErrnoException).code ?? cause}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new KeySetError(`${file} is not JSON`);
  }
  return keySetFromJwks(json);
}

/**
 * A new private JWKS with one key, for scripts/gen-keys.ts and the ephemeral development key. ES256 by
 * default: the one algorithm that every verifier a team's back-ends use accepts (EdDSA is refused by
 * most of them).
 */
export async function generatePrivateJwks(alg: SigningAlgorithm = 'ES256'): Promise<PrivateJwks> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(privateKey);
  const publicJwk: JWK = { ...jwk };
  for (const member of PRIVATE_MEMBERS) delete publicJwk[member];
  return { keys: [{ ...jwk, alg, use: 'sig', kid: await calculateJwkThumbprint(publicJwk) }] };
}

export async function generateEphemeralKeySet(alg: SigningAlgorithm = 'ES256'): Promise<KeySet> {
  return keySetFromJwks(await generatePrivateJwks(alg), true);
}

/*
 * Rotation in steps, each followed by a rolling restart of every instance (docs/configuration.md gives the procedure):
 * addNextKey publishes a new key that does not sign yet; promoteNextKey makes it sign and keeps the one
 * it replaces for verification; retireKey removes a key once no token it signed can still be live.
 */

function keysOf(jwks: unknown): JWK[] {
  const keys = (jwks as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys)) throw new KeySetError('expected a JSON Web Key Set');
  return keys as JWK[];
}

const isNextKey = (jwk: JWK) => (jwk as Record<string, unknown>)[NEXT_MEMBER] === true;

/** Step 1: a new key appended, marked next: in the JWKS, not signing. At most one next key at a time. */
export async function addNextKey(jwks: unknown, alg: SigningAlgorithm = 'ES256'): Promise<PrivateJwks> {
  const keys = keysOf(jwks);
  const pending = keys.find(isNextKey);
  if (pending) throw new KeySetError(`key ${pending.kid} is already the next key: promote it first`);
  const [fresh] = (await generatePrivateJwks(alg)).keys;
  const result = { keys: [...keys, { ...fresh!, [NEXT_MEMBER]: true }] };
  await keySetFromJwks(result);
  return result;
}

/** Step 2: the next key signs (it goes first, unmarked); the key that signed until now still verifies. */
export function promoteNextKey(jwks: unknown): PrivateJwks {
  const keys = keysOf(jwks);
  const next = keys.find(isNextKey);
  if (!next) throw new KeySetError(`no key is marked "${NEXT_MEMBER}": add one with --next first`);
  const { [NEXT_MEMBER]: _marker, ...promoted } = next as JWK & { [NEXT_MEMBER]?: unknown };
  return { keys: [promoted, ...keys.filter((k) => k !== next)] };
}

/** Step 3: removes a key that no longer signs (after ACCESS_TOKEN_TTL, no token it signed is live). */
export function retireKey(jwks: unknown, kid: string): PrivateJwks {
  const keys = keysOf(jwks);
  const index = keys.findIndex((k) => k.kid === kid);
  if (index < 0) throw new KeySetError(`no key has kid ${kid}`);
  const signingIndex = keys.findIndex((k) => !isNextKey(k));
  if (index === signingIndex) throw new KeySetError(`key ${kid} is the signing key: it cannot be retired`);
  return { keys: keys.filter((_, i) => i !== index) };
}
