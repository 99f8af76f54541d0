import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';
import { randomBytes } from '../lib/index.js';

/**
 * AES-256-GCM under a key derived (HKDF-SHA256) from a secret the caller holds but the store never
 * sees, e.g. a login code: only a request presenting the same secret can open what another sealed.
 * Form: base64url(iv | ciphertext | tag). `purpose` separates the uses of one secret.
 */
export function sealUnderSecret(plaintext: string, secret: string, purpose: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', derivedKey(secret, purpose), iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

/** The plaintext, or null for anything that was not sealed under this secret and purpose. */
export function openUnderSecret(sealed: string, secret: string, purpose: string): string | null {
  const bytes = Buffer.from(sealed, 'base64url');
  if (bytes.length < IV_BYTES + TAG_BYTES + 1) return null;
  try {
    const decipher = createDecipheriv(
      'aes-256-gcm',
      derivedKey(secret, purpose),
      bytes.subarray(0, IV_BYTES),
    );
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    return Buffer.concat([
      decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8');
  } catch {
    return null;
  }
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * HKDF-SHA256 (RFC 5869) with an empty salt and a 32-byte output, which is one block: extract, then
 * one expand step. Written out as its two HMACs because node's hkdfSync, which builds key objects
 * for both inputs, cost 10 µs a call here against 4 µs for the two HMACs, and a login derives twice;
 * the output is hkdfSync's, byte for byte (a test compares them), so what one version sealed the
 * other opens.
 */
export function derivedKey(secret: string, purpose: string): Buffer {
  const prk = createHmac('sha256', EMPTY_SALT).update(secret, 'utf8').digest();
  return createHmac('sha256', prk).update(purpose, 'utf8').update(FIRST_BLOCK).digest();
}
// An empty salt is HashLen zero bytes (RFC 5869, 2.2); T(1) ends with the octet 0x01.
const EMPTY_SALT = Buffer.alloc(32);
const FIRST_BLOCK = Buffer.from([1]);
