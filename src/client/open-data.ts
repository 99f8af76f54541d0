/**
 * The phone number, user info and other open data. WeChat encrypted a button's data with the
 * session_key of the last wx.login(): no wx.login() may come between the button and the decrypt.
 */
import { type Calls, objectOf, serviceError } from './calls.js';
import { AuthError, UserDeniedError } from './errors.js';
import { ASK_AGAIN, type Renewals } from './renewal.js';
import type { Requests } from './requests.js';
import type { AuthClient, OpenDataDetail, UserInfoDetail } from './types.js';

export function createOpenData(parts: {
  calls: Calls;
  renewal: Renewals;
  requests: Requests;
}): Pick<AuthClient, 'getPhoneNumber' | 'userInfo' | 'decrypt'> {
  const { calls, renewal, requests } = parts;

  /** Posts open data; the button's data is never sent after a wx.login() made since it was encrypted. */
  async function openData(path: string, body: Record<string, unknown>): Promise<unknown> {
    const response = await requests.authorized(() => calls.post(path, body), 'open-data');
    if (response.statusCode === 200) return response.data;
    const error = serviceError(response, `POST ${path}`);
    if (error.code === 'decrypt_failed' || error.code === 'login_required') {
      return renewal.askAgain(ASK_AGAIN, error);
    }
    throw error;
  }

  return {
    async getPhoneNumber(detail) {
      refuseDeclined(detail);
      let data: unknown;
      if (typeof detail.code === 'string' && detail.code !== '') {
        // The current API: a code WeChat exchanges, no session_key involved, so a login is harmless.
        const code = detail.code;
        const response = await requests.authorized(
          () => calls.post('/wechat/phone-number', { code }),
          'may-login',
        );
        if (response.statusCode !== 200) throw serviceError(response, 'POST /wechat/phone-number');
        data = response.data;
      } else {
        data = await openData('/wechat/phone-number', sealed(detail, "the getPhoneNumber button's e.detail"));
      }
      const body = objectOf(data);
      if (
        typeof body?.phoneNumber !== 'string' ||
        typeof body.purePhoneNumber !== 'string' ||
        typeof body.countryCode !== 'string'
      ) {
        throw new AuthError(
          'invalid_response',
          'POST /wechat/phone-number answered 200 without a phone number.',
        );
      }
      return {
        phoneNumber: body.phoneNumber,
        purePhoneNumber: body.purePhoneNumber,
        countryCode: body.countryCode,
      };
    },

    async userInfo<T>(detail: UserInfoDetail) {
      const body: Record<string, unknown> = sealed(detail, "wx.getUserProfile()'s result");
      if (typeof detail.rawData === 'string' && typeof detail.signature === 'string') {
        body.rawData = detail.rawData;
        body.signature = detail.signature;
      }
      return (await openData('/wechat/user-info', body)) as T;
    },

    async decrypt<T>(detail: OpenDataDetail) {
      return (await openData('/wechat/decrypt', sealed(detail, 'the open data'))) as T;
    },
  };
}

function sealed(detail: OpenDataDetail, what: string): { encryptedData: string; iv: string } {
  refuseDeclined(detail);
  const { encryptedData, iv } = detail;
  if (typeof encryptedData !== 'string' || encryptedData === '' || typeof iv !== 'string' || iv === '') {
    throw new AuthError('invalid_request', `Pass ${what} as it is: it needs encryptedData and iv.`);
  }
  return { encryptedData, iv };
}

/** A button's detail whose errMsg is not `…:ok`: the user declined (or WeChat refused). */
function refuseDeclined(detail: { errMsg?: string }): void {
  if (typeof detail?.errMsg === 'string' && !/:\s*ok$/.test(detail.errMsg)) {
    throw new UserDeniedError(detail.errMsg);
  }
}
