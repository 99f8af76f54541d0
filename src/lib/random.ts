import { randomBytes } from 'node:crypto';

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
