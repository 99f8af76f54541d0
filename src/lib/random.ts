import { randomBytes } from 'node:crypto';

/** Unpredictable identifier, base64url, `bytes` of entropy. */
export function randomId(bytes = 16): string {
  return randomBytes(bytes).toString('base64url');
}
