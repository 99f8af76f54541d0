import { createAccount } from './account.js';
import { serviceCalls } from './calls.js';
import { createOpenData } from './open-data.js';
import { createRenewal } from './renewal.js';
import { createRequests } from './requests.js';
import { SessionStorage } from './storage.js';
import type { AuthClient, AuthClientOptions } from './types.js';
import { parseBaseUrl } from './url.js';
import { createWebLogin } from './web-login.js';
import { globalWx, type WxApi } from './wx.js';

export type {
  AuthClient,
  AuthClientOptions,
  AuthRequestOptions,
  AuthResponse,
  AuthSession,
  LoginResult,
  OpenDataDetail,
  PhoneNumber,
  PhoneNumberDetail,
  SessionEntry,
  UserInfoDetail,
  WebLoginRequest,
} from './types.js';

export const DEFAULT_STORAGE_KEY = 'wxauth:session';

export function createAuthClient(options: AuthClientOptions): AuthClient {
  const base = parseBaseUrl(options.baseUrl);
  const api: WxApi = options.wx ?? noGlobalWx();
  const storage = new SessionStorage(api, options.storageKey ?? DEFAULT_STORAGE_KEY);
  const clock = options.clock ?? { now: () => Date.now() };
  const calls = serviceCalls(base, options.timeout);
  const renewal = createRenewal(options, { api, storage, clock, calls });
  const requests = createRequests({ api, base, renewal });
  return {
    baseUrl: base.href,
    ...createAccount({ api, storage, clock, calls, renewal, requests }),
    request: requests.request,
    ...createOpenData({ calls, renewal, requests }),
    ...createWebLogin({ calls, requests }),
  };
}

function noGlobalWx(): WxApi {
  const api = globalWx();
  if (api === undefined) {
    throw new TypeError('There is no global wx here: pass createAuthClient({ wx }) outside a mini-program.');
  }
  return api;
}
