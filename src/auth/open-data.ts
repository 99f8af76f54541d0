import type { Logger } from 'pino';
import type { AppDirectory, WechatApp } from '../config/apps.js';
import {
  acceptOpenData,
  decodeEncryptedOpenData,
  decryptOpenData,
  type EncryptedOpenData,
  verifyRawDataSignature,
} from '../crypto/index.js';
import { DecryptFailed, InvalidOpenData, InvalidRequest, LoginRequired } from '../errors/index.js';
import type { UserSessions } from '../store/index.js';
import { type PhoneNumber, parsePhoneNumber, type WechatClient } from '../wechat/index.js';

/** encryptedData and iv as a page forwards them from e.detail; either may be missing. */
export interface OpenDataFields {
  encryptedData?: string | undefined;
  iv?: string | undefined;
}

/** Who asks: the access token's subject and its app (`client_id`; undefined in tokens from before it). */
export interface OpenDataCaller {
  openid: string;
  appid: string | undefined;
}

/**
 * The user's open data, decrypted here with the session_key of their last login, which never leaves the
 * server: answers carry only the data, without its watermark, and only data of this mini-program and
 * this user is accepted. `log` is the request's logger (a failed decrypt is explained there).
 */
export interface OpenData {
  /** The getPhoneNumber button: its `code` (current API) wins over the legacy encryptedData and iv. */
  phoneNumber(
    caller: OpenDataCaller,
    body: OpenDataFields & { code?: string | undefined },
    log: Logger,
  ): Promise<PhoneNumber>;
  /** User info; `rawData` and `signature` go together, and the signature is checked when sent. */
  userInfo(
    caller: OpenDataCaller,
    body: OpenDataFields & { rawData?: string | undefined; signature?: string | undefined },
    log: Logger,
  ): Promise<Record<string, unknown>>;
  /** Any other open data (share info, WeRun…). */
  decrypt(caller: OpenDataCaller, body: OpenDataFields, log: Logger): Promise<Record<string, unknown>>;
  /** WeChat's checkSessionKey for the stored session_key. */
  sessionKeyValid(caller: OpenDataCaller): Promise<boolean>;
}

type OpenDataClient = Pick<WechatClient, 'getPhoneNumber' | 'checkSessionKey' | 'diagnoseSessionKey'>;

export function createOpenData(deps: {
  apps: AppDirectory;
  /** Each app's WeChat client, by appid. */
  wechat: ReadonlyMap<string, OpenDataClient>;
  store: Pick<UserSessions, 'getUser'>;
}): OpenData {
  const { apps, store } = deps;

  /**
   * The caller's mini-program and its WeChat client. Open data, phone codes and session_keys are a
   * mini-program's: a session of a mobile App (or of a browser login) has none of them.
   */
  function miniprogramOf(caller: OpenDataCaller): { app: WechatApp; wechat: OpenDataClient } {
    const app = caller.appid === undefined ? apps.legacy : apps.get(caller.appid);
    const wechat = app === undefined ? undefined : deps.wechat.get(app.appid);
    if (app === undefined || wechat === undefined)
      throw new InvalidRequest('The access token is of an app this service no longer serves: log in again.');
    if (app.kind !== 'miniprogram') {
      throw new InvalidRequest(
        `Not a mini-program session: ${app.name} is a ${app.kind} app, whose logins carry no session_key and no open data.`,
      );
    }
    return { app, wechat };
  }

  /** The user's stored session_key; login_required when there is none. */
  async function storedSessionKey(openid: string): Promise<string> {
    const user = await store.getUser(openid);
    if (!user) {
      throw new LoginRequired(
        'No session_key is stored for this user: call wx.login() and POST /auth/login, then retry.',
      );
    }
    return user.sessionKey;
  }

  /**
   * Decrypts with the user's session_key and accepts only data of this mini-program and this user. On a
   * decrypt failure, asks WeChat whether the stored key is still the live one, to say which it is (at
   * most once per user per minute: the client decides how often its data fails).
   */
  async function open(
    caller: OpenDataCaller,
    body: OpenDataFields,
    log: Logger,
  ): Promise<{ data: Record<string, unknown>; sessionKey: string }> {
    const { openid } = caller;
    const sealed = sealedOpenData(body);
    const { app, wechat } = miniprogramOf(caller);
    const sessionKey = await storedSessionKey(openid);
    let data: Record<string, unknown>;
    try {
      data = decryptOpenData(sessionKey, sealed);
    } catch (error) {
      if (error instanceof DecryptFailed)
        throw await explainDecryptFailure(wechat, log, openid, sessionKey, error);
      throw error;
    }
    // The token's app: data another app of the same person obtained is not this session's to open.
    return { data: acceptOpenData(data, { appid: app.appid, openid }), sessionKey };
  }

  async function explainDecryptFailure(
    wechat: OpenDataClient,
    log: Logger,
    openid: string,
    sessionKey: string,
    failure: DecryptFailed,
  ): Promise<DecryptFailed> {
    // Never throws: whatever WeChat says, or if it is not asked, the answer stays the decrypt failure.
    const live = await wechat.diagnoseSessionKey(openid, sessionKey);
    log.info(
      { event: 'open_data_decrypt_failed', session_key_valid: live },
      live === true
        ? 'open data does not decrypt although WeChat says the stored session_key is live'
        : 'open data does not decrypt with the stored session_key',
    );
    if (live !== true) return failure;
    return new DecryptFailed(
      'The data does not decrypt with the session_key of the current login, which WeChat says is still valid: it was altered or encrypted for another login. Ask the user again; if it keeps failing, call wx.login() and POST /auth/login again.',
      { cause: failure.cause },
    );
  }

  return {
    async phoneNumber(caller, body, log) {
      if (body.code !== undefined) return miniprogramOf(caller).wechat.getPhoneNumber(body.code);
      if (body.encryptedData === undefined && body.iv === undefined) {
        throw new InvalidRequest(
          'Send {"code"} from the getPhoneNumber button, or {"encryptedData", "iv"} of the legacy API.',
        );
      }
      const { data } = await open(caller, body, log);
      const phone = parsePhoneNumber(data);
      if (!phone) {
        throw new InvalidOpenData(
          "The open data is not a phone number (no phoneNumber, purePhoneNumber and countryCode): send the getPhoneNumber button's encryptedData and iv.",
        );
      }
      return phone;
    },

    async userInfo(caller, body, log) {
      sealedOpenData(body);
      if ((body.rawData === undefined) !== (body.signature === undefined)) {
        throw new InvalidRequest('rawData and signature go together: send both (e.detail) or neither.');
      }
      const { data, sessionKey } = await open(caller, body, log);
      if (body.rawData !== undefined && body.signature !== undefined) {
        verifyRawDataSignature(body.rawData, body.signature, sessionKey);
      }
      return data;
    },

    async decrypt(caller, body, log) {
      return (await open(caller, body, log)).data;
    },

    async sessionKeyValid(caller) {
      const { wechat } = miniprogramOf(caller);
      return wechat.checkSessionKey(caller.openid, await storedSessionKey(caller.openid));
    },
  };
}

/** encryptedData and iv, both present and well-formed (checked before any lookup or crypto). */
function sealedOpenData(body: OpenDataFields): EncryptedOpenData {
  if (body.encryptedData === undefined || body.iv === undefined) {
    throw new InvalidRequest('encryptedData and iv are both required (e.detail.encryptedData, e.detail.iv).');
  }
  const sealed = { encryptedData: body.encryptedData, iv: body.iv };
  decodeEncryptedOpenData(sealed);
  return sealed;
}
