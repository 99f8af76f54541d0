import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

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
/** What an openid looks like (WeChat's are 28 base64url characters); also keeps `{`/`}` out of Redis keys. */
export const OPENID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_TOKEN_LENGTH = Math.ceil(((HEADER_BYTES + 64) * 4) / 3);

export interface MintedRefreshToken {
  token: string;
  familyId: string;
  hash: string;
}

export interface ParsedRefreshToken {
  openid: string;
  familyId: string;
  hash: string;
}

export function newFamilyId(): string {
  return randomBytes(FAMILY_BYTES).toString('base64url');
}

export function mintRefreshToken(openid: string, familyId: string = newFamilyId()): MintedRefreshToken {
  const bytes = Buffer.concat([
    Buffer.of(VERSION),
    Buffer.from(familyId, 'base64url'),
    randomBytes(SECRET_BYTES),
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
  if (!OPENID_PATTERN.test(openid)) return null;
  return {
    openid,
    familyId: bytes.subarray(1, 1 + FAMILY_BYTES).toString('base64url'),
    hash: hashRefreshToken(token),
  };
}

export function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}

/**
 * The successor of a rotated token is kept sealed under a key derived from its predecessor, so that a
 * concurrent or retried refresh inside the grace window gets the very same successor, while Redis alone
 * (which never sees the predecessor) cannot open it.
 */
function successorKey(predecessor: string): Buffer {
  return Buffer.from(
    hkdfSync('sha256', Buffer.from(predecessor, 'utf8'), Buffer.alloc(0), 'wxauth refresh successor', 32),
  );
}

export function sealSuccessor(successor: string, predecessor: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', successorKey(predecessor), iv);
  const body = Buffer.concat([cipher.update(successor, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

/** Null when the blob does not open with this predecessor. */
export function unsealSuccessor(sealed: string, predecessor: string): string | null {
  const bytes = Buffer.from(sealed, 'base64url');
  if (bytes.length < 12 + 16 + 1) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', successorKey(predecessor), bytes.subarray(0, 12));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    return Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]).toString(
      'utf8',
    );
  } catch {
    return null;
  }
}
