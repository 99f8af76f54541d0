import { readFile } from 'node:fs/promises';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';

/** Algorithms a key set may use; symmetric ones are refused so the JWKS can be published. */
export const SUPPORTED_ALGORITHMS = ['EdDSA', 'ES256', 'RS256', 'PS256'] as const;
export type SigningAlgorithm = (typeof SUPPORTED_ALGORITHMS)[number];

type VerifyKey = Awaited<ReturnType<typeof importJWK>>;

export interface KeySet {
  signing: { kid: string; alg: SigningAlgorithm; key: VerifyKey };
  /** kid → public key. Looked up by exact kid only: a kid is a name, never a path or a URL. */
  verifying: ReadonlyMap<string, { alg: SigningAlgorithm; key: VerifyKey }>;
  algorithms: SigningAlgorithm[];
  /** The public halves, as served at /.well-known/jwks.json. */
  publicJwks: { keys: JWK[] };
  ephemeral: boolean;
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

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

/** Builds a KeySet from a private JWKS: the first key signs, every key verifies. */
export async function keySetFromJwks(jwks: unknown, ephemeral = false): Promise<KeySet> {
  const keys = (jwks as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0)
    throw new KeySetError('expected a JSON Web Key Set with at least one key');
  const verifying = new Map<string, { alg: SigningAlgorithm; key: VerifyKey }>();
  const publicKeys: JWK[] = [];
  let signing: KeySet['signing'] | undefined;
  for (const [index, raw] of keys.entries()) {
    const jwk = raw as JWK;
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
    let privateKey: VerifyKey;
    let publicKey: VerifyKey;
    try {
      privateKey = await importJWK({ ...jwk, alg }, alg);
      publicKey = await importJWK({ ...publicJwk, alg }, alg);
    } catch (cause) {
      throw new KeySetError(`key ${index}: ${(cause as Error).message}`);
    }
    verifying.set(kid, { alg, key: publicKey });
    publicKeys.push({ ...publicJwk, kid, alg, use: 'sig' });
    signing ??= { kid, alg, key: privateKey };
  }
  return {
    signing: signing!,
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

/** A new private JWKS with one key, for scripts/gen-keys.ts and the ephemeral development key. */
export async function generatePrivateJwks(alg: SigningAlgorithm = 'EdDSA'): Promise<{ keys: JWK[] }> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = await exportJWK(privateKey);
  const publicJwk: JWK = { ...jwk };
  for (const member of PRIVATE_MEMBERS) delete publicJwk[member];
  return { keys: [{ ...jwk, alg, use: 'sig', kid: await calculateJwkThumbprint(publicJwk) }] };
}

export async function generateEphemeralKeySet(alg: SigningAlgorithm = 'EdDSA'): Promise<KeySet> {
  return keySetFromJwks(await generatePrivateJwks(alg), true);
}
