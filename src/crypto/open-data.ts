import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { DecryptFailed, InvalidOpenData, InvalidRequest, InvalidSignature } from '../errors/index.js';

/** WeChat's open data: AES-128-CBC, PKCS#7, key = base64 session_key (16 bytes), iv 16 bytes. */
const ALGORITHM = 'aes-128-cbc';
const BLOCK = 16;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export interface Base64Rules {
  exactBytes?: number;
  multipleOf?: number;
  maxBytes?: number;
}

/**
 * Decodes a base64 field strictly, naming it on failure. A `+` turned into a space by form encoding on
 * the way is repaired first, since base64 has no spaces.
 */
export function decodeBase64Field(name: string, value: unknown, rules: Base64Rules = {}): Buffer {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidRequest(`${name} must be a non-empty base64 string.`);
  }
  const repaired = value.replaceAll(' ', '+');
  if (repaired.length % 4 !== 0 || !BASE64.test(repaired)) {
    throw new InvalidRequest(`${name} is not valid base64.`);
  }
  const bytes = Buffer.from(repaired, 'base64');
  if (rules.exactBytes !== undefined && bytes.length !== rules.exactBytes) {
    throw new InvalidRequest(`${name} must decode to exactly ${rules.exactBytes} bytes.`);
  }
  if (rules.multipleOf !== undefined && (bytes.length === 0 || bytes.length % rules.multipleOf !== 0)) {
    throw new InvalidRequest(`${name} must decode to a non-empty multiple of ${rules.multipleOf} bytes.`);
  }
  if (rules.maxBytes !== undefined && bytes.length > rules.maxBytes) {
    throw new InvalidRequest(`${name} must decode to at most ${rules.maxBytes} bytes.`);
  }
  return bytes;
}

export interface EncryptedOpenData {
  encryptedData: string;
  iv: string;
}

/** The phone's side, for the emulator and tests. */
export function encryptOpenData(
  sessionKey: string,
  plaintext: object,
  iv = randomBytes(BLOCK),
): EncryptedOpenData {
  const cipher = createCipheriv(ALGORITHM, Buffer.from(sessionKey, 'base64'), iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(plaintext), 'utf8'), cipher.final()]);
  return { encryptedData: body.toString('base64'), iv: iv.toString('base64') };
}

export const OPEN_DATA_MAX_BYTES = 64 * 1024;

/**
 * Checks open data without decrypting it: encryptedData strict base64 of a non-empty multiple of 16
 * bytes up to OPEN_DATA_MAX_BYTES, iv strict base64 of exactly 16 bytes. `invalid_request` naming the
 * field otherwise, so a caller can refuse malformed input before it looks anything up.
 */
export function decodeEncryptedOpenData(input: { encryptedData: unknown; iv: unknown }): {
  ciphertext: Buffer;
  iv: Buffer;
} {
  const ciphertext = decodeBase64Field('encryptedData', input.encryptedData, {
    multipleOf: BLOCK,
    maxBytes: OPEN_DATA_MAX_BYTES,
  });
  const iv = decodeBase64Field('iv', input.iv, { exactBytes: BLOCK });
  return { ciphertext, iv };
}

/**
 * Decrypts open data with a stored session_key. Malformed input is `invalid_request`; a padding or JSON
 * failure means the key is not the one the phone used (it called wx.login again): `decrypt_failed`.
 */
export function decryptOpenData(
  sessionKey: string,
  input: { encryptedData: unknown; iv: unknown },
): Record<string, unknown> {
  const { ciphertext, iv } = decodeEncryptedOpenData(input);
  const key = Buffer.from(sessionKey, 'base64');
  let text: string;
  try {
    const decipher = createDecipheriv(ALGORITHM, key, iv);
    text = Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch (cause) {
    throw staleKey(cause);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (cause) {
    throw staleKey(cause);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw staleKey(undefined);
  return data as Record<string, unknown>;
}

function staleKey(cause: unknown): DecryptFailed {
  return new DecryptFailed(
    'The data does not decrypt with the stored session_key, which is stale: call wx.login() and POST /auth/login again, then ask the user again.',
    { cause },
  );
}

/**
 * Accepts decrypted data only when its watermark names our appid and any openId in it is the caller;
 * answers it without the watermark.
 */
export function acceptOpenData(
  data: Record<string, unknown>,
  expected: { appid: string; openid: string },
): Record<string, unknown> {
  const { watermark, ...rest } = data;
  const appid =
    watermark !== null && typeof watermark === 'object'
      ? (watermark as { appid?: unknown }).appid
      : undefined;
  if (appid !== expected.appid) {
    throw new InvalidOpenData('The open data was issued to another mini-program (watermark.appid differs).');
  }
  if ('openId' in rest && rest.openId !== expected.openid) {
    throw new InvalidOpenData("The open data belongs to another user (openId is not the token's subject).");
  }
  return rest;
}

/** WeChat's rawData signature: sha1(rawData + session_key), hex. */
export function rawDataSignature(rawData: string, sessionKey: string): string {
  return createHash('sha1')
    .update(rawData + sessionKey, 'utf8')
    .digest('hex');
}

export function verifyRawDataSignature(rawData: string, signature: string, sessionKey: string): void {
  const expected = Buffer.from(rawDataSignature(rawData, sessionKey), 'utf8');
  const given = Buffer.from(signature.toLowerCase(), 'utf8');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new InvalidSignature(
      'signature does not match sha1(rawData + session_key): the rawData was altered or the session is stale.',
    );
  }
}

/** The signature wxa/checksession expects: hmac_sha256(key = session_key, message = ""), hex. */
export function sessionKeySignature(sessionKey: string): string {
  return createHmac('sha256', sessionKey).update('').digest('hex');
}
