import { sealedFromBytes, sealedToBytes } from '../crypto/at-rest.js';

/**
 * How RedisStore turns the store's values into the bytes Redis keeps, and back: compact forms that keep
 * each record small (the layouts: USER_KEY_LAYOUT in keys.ts). Each comes back exactly as given. Token hashes need
 * none: they are the 32-byte digests a family keeps.
 */

/**
 * The session_key as the user record's `k` field keeps it. A sealed one is 65 characters or more, past
 * the 64 bytes that keep the hash compact (which would double the record), so it is kept in the at-rest
 * cipher's byte form (a 0 byte first, see sealedToBytes). A session_key in clear (WeChat's base64) or
 * anything else is kept as its UTF-8, except one that itself starts with a 0 byte (see escaped).
 */
export function encodeSessionKey(sessionKey: string): string | Buffer {
  return sealedToBytes(sessionKey) ?? (sessionKey.startsWith('\0') ? escaped(sessionKey) : sessionKey);
}

/**
 * A plain value that starts with a 0 byte, as a sealed one does: 0, 255 (where the sealed byte form has
 * its key id's length, at most 32), then its UTF-8. No session_key looks so; it keeps the round trip
 * exact for any string.
 */
function escaped(value: string): Buffer {
  return Buffer.concat([Buffer.of(0, ESCAPED), Buffer.from(value, 'utf8')]);
}
const ESCAPED = 0xff;

export function decodeSessionKey(stored: Buffer): string {
  if (stored[0] !== 0) return stored.toString('utf8');
  if (stored[1] === ESCAPED) return stored.subarray(2).toString('utf8');
  return sealedFromBytes(stored);
}

/**
 * The successor seed as a family keeps it (`succ`, see USER_KEY_LAYOUT.family in keys.ts): a 0 byte, then the seed.
 * The store never looks inside it.
 */
export function storedSeed(seed: Buffer): Buffer {
  return Buffer.concat([Buffer.of(0), seed]);
}

/**
 * The seed a family keeps, exactly as given. The first byte is a tag from when seeds were strings: 0
 * (what storedSeed writes, and what the service's base64url seeds were kept as: their bytes) or 1 (a
 * string that was not base64url, kept as its UTF-8; only tests ever wrote one). Either way the seed is
 * the bytes after it.
 */
export function seedOf(stored: Buffer): Buffer {
  return stored.subarray(1);
}

/** A family keeps its device's length in one byte (USER_KEY_LAYOUT.family in keys.ts). */
const DEVICE_MAX_BYTES = 255;

/** The device as a family keeps it: its UTF-8, cut at a character boundary within 255 bytes. */
export function encodeDevice(device: string | undefined): Buffer {
  const bytes = Buffer.from(device ?? '', 'utf8');
  if (bytes.length <= DEVICE_MAX_BYTES) return bytes;
  let end = DEVICE_MAX_BYTES;
  // Back to the first byte of a character (continuation bytes are 10xxxxxx).
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end -= 1;
  return bytes.subarray(0, end);
}
