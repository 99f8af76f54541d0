import { createHash } from 'node:crypto';

/**
 * How RedisStore turns the store's strings into the bytes Redis keeps, and back: compact forms that keep
 * each record small (scripts.ts has the layouts). Session keys and seeds come back exactly as given;
 * token hashes are only ever compared, so they need only stay equal when equal.
 */

/** A session_key sealed by the at-rest cipher: `v1.<kid>.<base64url>` (see crypto/at-rest.ts). */
const SEALED = /^v1\.([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]+)$/;

/**
 * The session_key as the user record's `k` field keeps it. A sealed one is 65 characters or more, past
 * the 64 bytes that keep the hash compact (which would double the record), so it is kept as its bytes:
 * a 0 byte, the key id's length and the key id, then the payload decoded (55 bytes with an 8-character
 * key id). A session_key in clear (WeChat's base64) or anything else is kept as given.
 */
export function encodeSessionKey(sessionKey: string): string | Buffer {
  const sealed = SEALED.exec(sessionKey);
  if (sealed === null) return sessionKey.startsWith('\0') ? escaped(sessionKey) : sessionKey;
  const [, kid, payload] = sealed as unknown as [string, string, string];
  const raw = Buffer.from(payload, 'base64url');
  if (raw.toString('base64url') !== payload) return sessionKey;
  return Buffer.concat([Buffer.of(0, kid.length), Buffer.from(kid, 'ascii'), raw]);
}

/** A plain value that itself starts with a 0 byte: 0, 255 (no key id is that long), then its UTF-8. */
function escaped(value: string): Buffer {
  return Buffer.concat([Buffer.of(0, ESCAPED), Buffer.from(value, 'utf8')]);
}
const ESCAPED = 0xff;

export function decodeSessionKey(stored: Buffer): string {
  if (stored[0] !== 0) return stored.toString('utf8');
  if (stored[1] === ESCAPED) return stored.subarray(2).toString('utf8');
  const kidEnd = 2 + stored[1]!;
  return `v1.${stored.subarray(2, kidEnd).toString('ascii')}.${stored.subarray(kidEnd).toString('base64url')}`;
}

/**
 * A token hash as the 32 bytes a family stores (see FAMILY in scripts.ts): a base64url SHA-256 digest
 * (what the service passes) as its bytes, any other string as its SHA-256, so equal hashes stay equal.
 */
export function digest(hash: string): Buffer {
  const raw = Buffer.from(hash, 'base64url');
  if (raw.length === 32 && raw.toString('base64url') === hash) return raw;
  return createHash('sha256').update(hash, 'utf8').digest();
}

/**
 * The successor seed is opaque to the store, but the service's seeds are base64url: those are stored as
 * their bytes (a 0 byte, then the bytes), anything else as its UTF-8 (a 1 byte first).
 */
export function packSeed(seed: string): Buffer {
  const raw = Buffer.from(seed, 'base64url');
  return raw.toString('base64url') === seed
    ? Buffer.concat([Buffer.of(0), raw])
    : Buffer.concat([Buffer.of(1), Buffer.from(seed, 'utf8')]);
}

export function unpackSeed(packed: Buffer): string {
  return packed[0] === 0 ? packed.subarray(1).toString('base64url') : packed.subarray(1).toString('utf8');
}

/** A family keeps its device's length in one byte (see FAMILY in scripts.ts). */
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
