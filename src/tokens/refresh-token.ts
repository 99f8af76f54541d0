import { createHash, createHmac } from 'node:crypto';
import { isOpenid, randomBytes } from '../lib/index.js';

/**
 * The refresh token is opaque to clients. Inside: a version byte, the family id, 256 random bits and the
 * owner's openid, base64url. Carrying the family and the openid lets the store find the family in the
 * owner's Redis Cluster slot in one round trip, without an index of token hashes; only the SHA-256 of
 * the whole token is ever stored.
 */
const VERSION = 1;
const FAMILY_BYTES = 12;
const SECRET_BYTES = 32;
const HEADER_BYTES = 1 + FAMILY_BYTES + SECRET_BYTES;
const MAX_TOKEN_LENGTH = Math.ceil(((HEADER_BYTES + 64) * 4) / 3);

export interface MintedRefreshToken {
  token: string;
  familyId: string;
  /** What the store keeps of it (hashRefreshToken). */
  hash: Buffer;
}

export interface ParsedRefreshToken {
  openid: string;
  familyId: string;
  hash: Buffer;
}

export function newFamilyId(): string {
  return randomBytes(FAMILY_BYTES).toString('base64url');
}

/** The first token of a new family (a login). */
export function mintRefreshToken(openid: string, familyId: string = newFamilyId()): MintedRefreshToken {
  return assemble(openid, familyId, randomBytes(SECRET_BYTES));
}

function assemble(openid: string, familyId: string, secret: Buffer): MintedRefreshToken {
  const bytes = Buffer.concat([
    Buffer.of(VERSION),
    Buffer.from(familyId, 'base64url'),
    secret,
    Buffer.from(openid, 'utf8'),
  ]);
  const token = bytes.toString('base64url');
  return { token, familyId, hash: hashRefreshToken(token) };
}

/** Null for anything that cannot be one of our tokens; such a token never reaches the store. */
export function parseRefreshToken(token: string): ParsedRefreshToken | null {
  if (token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) return null;
  const bytes = Buffer.from(token, 'base64url');
  if (bytes.length <= HEADER_BYTES || bytes[0] !== VERSION || bytes.toString('base64url') !== token)
    return null;
  const openid = bytes.subarray(HEADER_BYTES).toString('utf8');
  if (!isOpenid(openid)) return null;
  return {
    openid,
    familyId: bytes.subarray(1, 1 + FAMILY_BYTES).toString('base64url'),
    hash: hashRefreshToken(token),
  };
}

/** The 32-byte SHA-256 digest of the token's text. */
export function hashRefreshToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * A rotation stores a random seed, and the successor's secret is HMAC-SHA256(predecessor, seed). A
 * concurrent or retried refresh inside the grace window presents the predecessor again and so rebuilds
 * the very same successor, while the store alone (which holds the seed and only a hash of the
 * predecessor) cannot. The seed is 32 random bytes, which keeps a rotated family without a device within
 * Redis's 128-byte allocation (see FAMILY in store/scripts.ts).
 */
export function newSuccessorSeed(): Buffer {
  return randomBytes(SECRET_BYTES);
}

export function successorOf(
  predecessor: ParsedRefreshToken & { token: string },
  seed: Buffer,
): MintedRefreshToken {
  // The seed's base64url text, not its bytes: seeds were strings before, and the successor was the HMAC
  // of that text. A family rotated by the previous version and retried within its grace window must
  // rebuild the very successor that version answered, from the same seed bytes the store kept.
  const secret = createHmac('sha256', Buffer.from(predecessor.token, 'utf8'))
    .update(seed.toString('base64url'), 'utf8')
    .digest();
  return assemble(predecessor.openid, predecessor.familyId, secret);
}
