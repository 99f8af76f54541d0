import { createCipheriv, createDecipheriv } from 'node:crypto';
import { randomBytes } from '../lib/index.js';

/**
 * AES-256-GCM for secrets kept in the store (the session_key). Each value names its key id, so a new
 * key can take over encryption while the old ones still decrypt: rotation logs nobody out.
 * Text form: `v1.<kid>.<base64url(iv | ciphertext | tag)>`; byte form (sealedToBytes): see there. The
 * plaintext is encrypted as a form byte and its bytes: a canonical base64 string (every session_key
 * WeChat gives) as the bytes it encodes, anything else as UTF-8. A sealed session_key is then 45 bytes,
 * small enough for the user record to stay in Redis's compact encoding.
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
/** A key id: what parseAtRestKeys accepts, so at most 32 ASCII bytes. */
const KID = '[A-Za-z0-9_-]{1,32}';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** The text form of a sealed value: the key id and the payload (iv | ciphertext | tag), base64url. */
const SEALED = new RegExp(`^v1\\.(${KID})\\.([A-Za-z0-9_-]+)$`);

/** Parses `kid:base64key,kid:base64key` (32-byte keys); the first encrypts. Throws naming the fault. */
export function parseAtRestKeys(setting: string): AtRestKey[] {
  const keys = setting
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      const match = new RegExp(`^(${KID}):([A-Za-z0-9+/_-]+={0,2})$`).exec(part);
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
      const iv = randomBytes(IV_BYTES);
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
      if (bytes.length < IV_BYTES + TAG_BYTES) return null;
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES));
        decipher.setAAD(Buffer.from(context, 'utf8'));
        decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
        return decodePlaintext(
          Buffer.concat([
            decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)),
            decipher.final(),
          ]),
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

/**
 * The byte form of a sealed value, for a store that keeps bytes: a 0 byte, the key id's length (1 to
 * 32) and the key id in ASCII, then the payload (iv | ciphertext | tag) decoded. A sealed session_key
 * under an 8-character key id is 55 bytes so, against 72 characters. The second byte is never above
 * 32, which leaves a store room to mark other values that start with a 0 byte.
 * Null for anything that is not a well-formed sealed value of this module (a key id as keys have, and a
 * canonical base64url payload long enough for an iv and a tag): the byte form turns back into exactly
 * the text given.
 */
export function sealedToBytes(text: string): Buffer | null {
  const sealed = SEALED.exec(text);
  if (sealed === null) return null;
  const [, kid, payload] = sealed as unknown as [string, string, string];
  const raw = Buffer.from(payload, 'base64url');
  if (raw.length < IV_BYTES + TAG_BYTES || raw.toString('base64url') !== payload) return null;
  return Buffer.concat([Buffer.of(0, kid.length), Buffer.from(kid, 'ascii'), raw]);
}

/** The text form of what sealedToBytes made (the bytes as the store kept them). */
export function sealedFromBytes(bytes: Buffer): string {
  const kidEnd = 2 + (bytes[1] ?? 0);
  return `${PREFIX}${bytes.subarray(2, kidEnd).toString('ascii')}.${bytes.subarray(kidEnd).toString('base64url')}`;
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
