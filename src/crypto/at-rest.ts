import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM for secrets kept in the store (the session_key). Each value names its key id, so a new
 * key can take over encryption while the old ones still decrypt: rotation logs nobody out.
 * Stored form: `v1.<kid>.<base64url(iv | ciphertext | tag)>`. The plaintext is encrypted as a form
 * byte and its bytes: a canonical base64 string (every session_key WeChat gives) as the bytes it encodes,
 * anything else as UTF-8. A sealed session_key is then 44 bytes, small enough for the user record to
 * stay in Redis's compact encoding.
 */
export interface AtRestCipher {
  /** `context` (the openid) is bound as AAD: a value copied under another user does not decrypt. */
  seal(plaintext: string, context: string): string;
  /** Null when the value was sealed under an unknown key or was tampered with. */
  open(sealed: string, context: string): string | null;
  /** True for values this cipher wrote (a plain value from before encryption was on is not). */
  isSealed(value: string): boolean;
}

export interface AtRestKey {
  kid: string;
  key: Buffer;
}

const PREFIX = 'v1.';

/** Parses `kid:base64key,kid:base64key` (32-byte keys); the first encrypts. Throws naming the fault. */
export function parseAtRestKeys(setting: string): AtRestKey[] {
  const keys = setting
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const match = /^([A-Za-z0-9_-]{1,32}):([A-Za-z0-9+/_-]+={0,2})$/.exec(part);
      if (!match) throw new Error('expected kid:base64key entries separated by commas');
      const key = Buffer.from(match[2]!, 'base64');
      if (key.length !== 32) throw new Error(`key ${match[1]} must be 32 bytes (base64 of 32 random bytes)`);
      return { kid: match[1]!, key };
    });
  if (keys.length === 0) throw new Error('expected at least one kid:base64key');
  if (new Set(keys.map((k) => k.kid)).size !== keys.length) throw new Error('key ids must be unique');
  return keys;
}

export function createAtRestCipher(keys: AtRestKey[]): AtRestCipher {
  const [current] = keys;
  if (!current) throw new Error('createAtRestCipher needs at least one key');
  const byKid = new Map(keys.map((k) => [k.kid, k.key]));
  return {
    seal(plaintext, context) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', current.key, iv);
      cipher.setAAD(Buffer.from(context, 'utf8'));
      const body = Buffer.concat([cipher.update(encodePlaintext(plaintext)), cipher.final()]);
      return `${PREFIX}${current.kid}.${Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')}`;
    },
    open(sealed, context) {
      const [version, kid, payload] = sealed.split('.');
      const key = kid === undefined ? undefined : byKid.get(kid);
      if (`${version}.` !== PREFIX || !key || !payload) return null;
      const bytes = Buffer.from(payload, 'base64url');
      if (bytes.length < 12 + 16) return null;
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, 12));
        decipher.setAAD(Buffer.from(context, 'utf8'));
        decipher.setAuthTag(bytes.subarray(bytes.length - 16));
        return decodePlaintext(
          Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]),
        );
      } catch {
        return null;
      }
    },
    isSealed(value) {
      return value.startsWith(PREFIX);
    },
  };
}

const UTF8 = 0;
const BASE64 = 1;

function encodePlaintext(plaintext: string): Buffer {
  const decoded = Buffer.from(plaintext, 'base64');
  return plaintext !== '' && decoded.toString('base64') === plaintext
    ? Buffer.concat([Buffer.of(BASE64), decoded])
    : Buffer.concat([Buffer.of(UTF8), Buffer.from(plaintext, 'utf8')]);
}

function decodePlaintext(bytes: Buffer): string | null {
  const body = bytes.subarray(1);
  if (bytes[0] === BASE64) return body.toString('base64');
  return bytes[0] === UTF8 ? body.toString('utf8') : null;
}
