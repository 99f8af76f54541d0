import { createCipheriv, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import {
  acceptOpenData,
  decodeBase64Field,
  decodeEncryptedOpenData,
  decryptOpenData,
  encryptOpenData,
  OPEN_DATA_MAX_BYTES,
  rawDataSignature,
  sessionKeySignature,
  verifyRawDataSignature,
} from '../../src/crypto/index.js';
import { AppError } from '../../src/errors/index.js';
import { WECHAT_DEMO } from '../helpers/wechat-demo.js';

function thrown(run: () => unknown): AppError {
  try {
    run();
  } catch (error) {
    expect(error).to.be.instanceOf(AppError);
    return error as AppError;
  }
  throw new Error('expected an error');
}

/** Flips one bit of a base64 value's decoded bytes. */
function flipBit(base64: string, byte: number): string {
  const bytes = Buffer.from(base64, 'base64');
  bytes[byte] = bytes[byte]! ^ 0x01;
  return bytes.toString('base64');
}

describe('open data (AES-128-CBC under the session_key)', () => {
  describe("WeChat's published demo vector", () => {
    it('decrypts to the documented user info and watermark', () => {
      const data = decryptOpenData(WECHAT_DEMO.sessionKey, WECHAT_DEMO);
      expect(data).to.deep.equal({ ...WECHAT_DEMO.userInfo, watermark: WECHAT_DEMO.watermark });
    });

    it('is accepted for its own appid and openid, and answered without the watermark', () => {
      const data = decryptOpenData(WECHAT_DEMO.sessionKey, WECHAT_DEMO);
      const accepted = acceptOpenData(data, { appid: WECHAT_DEMO.appid, openid: WECHAT_DEMO.openid });
      expect(accepted).to.deep.equal(WECHAT_DEMO.userInfo);
      expect(accepted).not.to.have.property('watermark');
    });

    it('is refused for another appid (invalid_open_data)', () => {
      const data = decryptOpenData(WECHAT_DEMO.sessionKey, WECHAT_DEMO);
      const error = thrown(() =>
        acceptOpenData(data, { appid: 'wx0000000000000000', openid: WECHAT_DEMO.openid }),
      );
      expect(error).to.include({ status: 400, error: 'invalid_open_data' });
      expect(error.message).to.contain('watermark.appid');
    });

    it('is refused for another user (invalid_open_data)', () => {
      const data = decryptOpenData(WECHAT_DEMO.sessionKey, WECHAT_DEMO);
      const error = thrown(() => acceptOpenData(data, { appid: WECHAT_DEMO.appid, openid: 'oSomeoneElse' }));
      expect(error).to.include({ status: 400, error: 'invalid_open_data' });
      expect(error.message).to.contain('openId');
    });

    it('decrypts when form encoding turned every + of encryptedData and iv into a space', () => {
      const mangled = {
        encryptedData: WECHAT_DEMO.encryptedData.replaceAll('+', ' '),
        iv: WECHAT_DEMO.iv.replaceAll('+', ' '),
      };
      expect(mangled.encryptedData).to.contain(' ');
      expect(decryptOpenData(WECHAT_DEMO.sessionKey, mangled)).to.include({ nickName: 'Band' });
    });
  });

  describe('tampering', () => {
    it('answers decrypt_failed, telling the client to log in again, under another session_key', () => {
      const error = thrown(() => decryptOpenData(randomBytes(16).toString('base64'), WECHAT_DEMO));
      expect(error).to.include({ status: 400, error: 'decrypt_failed' });
      expect(error.message).to.contain('wx.login()');
    });

    it('answers decrypt_failed when the last block of the ciphertext is altered (padding)', () => {
      const last = Buffer.from(WECHAT_DEMO.encryptedData, 'base64').length - 1;
      const altered = { ...WECHAT_DEMO, encryptedData: flipBit(WECHAT_DEMO.encryptedData, last) };
      expect(thrown(() => decryptOpenData(WECHAT_DEMO.sessionKey, altered)).error).to.equal('decrypt_failed');
    });

    it('answers decrypt_failed when the iv is altered so the plaintext is no longer JSON', () => {
      // The first plaintext byte is '{'; flipping the iv's first bit turns it into 'z'.
      const altered = { ...WECHAT_DEMO, iv: flipBit(WECHAT_DEMO.iv, 0) };
      expect(thrown(() => decryptOpenData(WECHAT_DEMO.sessionKey, altered)).error).to.equal('decrypt_failed');
    });

    it('answers decrypt_failed for a plaintext that is JSON but not an object', () => {
      const key = randomBytes(16);
      const iv = randomBytes(16);
      const cipher = createCipheriv('aes-128-cbc', key, iv);
      const body = Buffer.concat([cipher.update('[1,2,3]'), cipher.final()]);
      const error = thrown(() =>
        decryptOpenData(key.toString('base64'), {
          encryptedData: body.toString('base64'),
          iv: iv.toString('base64'),
        }),
      );
      expect(error.error).to.equal('decrypt_failed');
    });

    it('answers invalid_open_data for a forged watermark and for a missing one', () => {
      const key = randomBytes(16).toString('base64');
      const expected = { appid: 'wxOurs', openid: 'oUser' };
      const foreign = decryptOpenData(key, encryptOpenData(key, { a: 1, watermark: { appid: 'wxTheirs' } }));
      expect(thrown(() => acceptOpenData(foreign, expected)).error).to.equal('invalid_open_data');
      const bare = decryptOpenData(key, encryptOpenData(key, { a: 1 }));
      expect(thrown(() => acceptOpenData(bare, expected)).error).to.equal('invalid_open_data');
      const notObject = decryptOpenData(key, encryptOpenData(key, { a: 1, watermark: 'wxOurs' }));
      expect(thrown(() => acceptOpenData(notObject, expected)).error).to.equal('invalid_open_data');
    });

    it("answers invalid_open_data for another user's openId, and accepts data without any openId", () => {
      const key = randomBytes(16).toString('base64');
      const expected = { appid: 'wxOurs', openid: 'oUser' };
      const watermark = { appid: 'wxOurs', timestamp: 1 };
      const other = decryptOpenData(key, encryptOpenData(key, { openId: 'oOther', watermark }));
      expect(thrown(() => acceptOpenData(other, expected)).error).to.equal('invalid_open_data');
      const stepInfo = decryptOpenData(key, encryptOpenData(key, { stepInfoList: [], watermark }));
      expect(acceptOpenData(stepInfo, expected)).to.deep.equal({ stepInfoList: [] });
    });
  });

  describe('input checks, before any crypto', () => {
    const key = randomBytes(16).toString('base64');
    const sealed = encryptOpenData(key, { watermark: { appid: 'wx' } });

    const malformed: Array<[string, { encryptedData: unknown; iv: unknown }, RegExp]> = [
      [
        'an iv of 15 bytes',
        { ...sealed, iv: randomBytes(15).toString('base64') },
        /iv must decode to exactly 16/,
      ],
      [
        'an iv of 17 bytes',
        { ...sealed, iv: randomBytes(17).toString('base64') },
        /iv must decode to exactly 16/,
      ],
      [
        'a ciphertext of 31 bytes',
        { ...sealed, encryptedData: randomBytes(31).toString('base64') },
        /multiple of 16/,
      ],
      ['an empty ciphertext', { ...sealed, encryptedData: '' }, /non-empty/],
      ['encryptedData that is not base64', { ...sealed, encryptedData: 'abc$def=' }, /not valid base64/],
      ['base64 without its padding', { ...sealed, iv: sealed.iv.replace(/=+$/, '') }, /not valid base64/],
      [
        'base64url instead of base64',
        { ...sealed, encryptedData: 'ab-_ab-_ab-_ab-_ab-_ab==' },
        /not valid base64/,
      ],
      ['a number for iv', { ...sealed, iv: 16 }, /iv must be a non-empty base64 string/],
      ['no encryptedData', { iv: sealed.iv, encryptedData: undefined }, /encryptedData must be/],
      [
        'a ciphertext over the limit',
        { ...sealed, encryptedData: randomBytes(OPEN_DATA_MAX_BYTES + 16).toString('base64') },
        /at most 65536 bytes/,
      ],
    ];
    for (const [name, input, message] of malformed) {
      it(`answers invalid_request naming the field to ${name}`, () => {
        const error = thrown(() => decodeEncryptedOpenData(input));
        expect(error).to.include({ status: 400, error: 'invalid_request' });
        expect(error.message).to.match(message);
        expect(thrown(() => decryptOpenData(key, input)).error).to.equal('invalid_request');
      });
    }

    it('repairs spaces into + before decoding, as form encoding turns + into a space', () => {
      expect(decodeBase64Field('x', 'a+b/', {})).to.deep.equal(decodeBase64Field('x', 'a b/', {}));
    });
  });

  describe('signatures', () => {
    it('checks rawData against sha1(rawData + session_key), case-insensitively', () => {
      const key = randomBytes(16).toString('base64');
      const rawData = JSON.stringify({ nickName: 'Band' });
      const signature = rawDataSignature(rawData, key);
      expect(signature).to.match(/^[0-9a-f]{40}$/);
      verifyRawDataSignature(rawData, signature, key);
      verifyRawDataSignature(rawData, signature.toUpperCase(), key);
    });

    it('answers invalid_signature for altered rawData, another key or a truncated signature', () => {
      const key = randomBytes(16).toString('base64');
      const rawData = JSON.stringify({ nickName: 'Band' });
      const signature = rawDataSignature(rawData, key);
      for (const attempt of [
        () => verifyRawDataSignature(rawData.replace('Band', 'Bond'), signature, key),
        () => verifyRawDataSignature(rawData, signature, randomBytes(16).toString('base64')),
        () => verifyRawDataSignature(rawData, signature.slice(0, 39), key),
      ]) {
        expect(thrown(attempt)).to.include({ status: 400, error: 'invalid_signature' });
      }
    });

    it('signs checksession with hmac_sha256(session_key, "")', () => {
      // HMAC-SHA256 with an empty message, keyed by the session_key string as WeChat's docs show.
      expect(sessionKeySignature(WECHAT_DEMO.sessionKey)).to.match(/^[0-9a-f]{64}$/);
      expect(sessionKeySignature(WECHAT_DEMO.sessionKey)).not.to.equal(sessionKeySignature('other'));
    });
  });
});
