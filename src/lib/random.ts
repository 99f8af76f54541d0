import { randomFillSync, randomBytes as systemRandomBytes } from 'node:crypto';

/**
 * `size` unpredictable bytes, from the system's CSPRNG through a pool of this process: one refill of
 * POOL_BYTES serves many calls, as Node's own crypto.randomUUID() pools its randomness. A call of
 * randomBytes() costs a round into OpenSSL whatever its size (2 µs, and a refresh makes several); a
 * slice of the pool costs a copy. Bytes handed out are wiped from the pool, so that it holds only
 * bytes nobody has been given. Larger requests go to the system directly.
 */
export function randomBytes(size: number): Buffer {
  // A fractional or negative size would move the offset back over bytes already handed out (wiped
  // to zeros): refused, as crypto.randomBytes refuses it.
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`randomBytes: bad size ${size}`);
  if (size > MAX_POOLED) return systemRandomBytes(size);
  if (offset + size > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const bytes = Buffer.from(pool.subarray(offset, offset + size));
  pool.fill(0, offset, offset + size);
  offset += size;
  return bytes;
}
const POOL_BYTES = 4096;
const MAX_POOLED = 64;
// Outside Node's shared Buffer pool, so that no other Buffer is a view of these bytes.
const pool = Buffer.allocUnsafeSlow(POOL_BYTES);
let offset = POOL_BYTES;

/** Unpredictable identifier, base64url, `bytes` of entropy. */
export function randomId(bytes = 16): string {
  return randomBytes(bytes).toString('base64url');
}

/**
 * Ids that are unique but not secret (request ids): a random prefix per generator, then a counter. One
 * randomBytes call per request cost more than the rest of a bare route's own work.
 */
export function sequentialIds(): () => string {
  const prefix = randomId(6);
  let count = 0;
  return () => {
    count += 1;
    return `${prefix}${count.toString(36)}`;
  };
}
