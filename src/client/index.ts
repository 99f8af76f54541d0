/**
 * The mini-program side of wxauth: `createAuthClient({ baseUrl })` logs in with wx.login(), keeps the
 * tokens in wx storage, attaches the access token to requests to the service (and to nothing else),
 * refreshes once for many concurrent requests and logs in again by itself. It needs nothing but `wx`.
 */
export {
  type AuthClient,
  type AuthClientOptions,
  type AuthRequestOptions,
  type AuthResponse,
  type AuthSession,
  createAuthClient,
  DEFAULT_STORAGE_KEY,
  type LoginResult,
  type OpenDataDetail,
  type PhoneNumber,
  type PhoneNumberDetail,
  type SessionEntry,
  type UserInfoDetail,
  type WebLoginRequest,
} from './client.js';
export {
  AuthError,
  type AuthErrorCode,
  type AuthErrorDetails,
  type ClientErrorCode,
  DecryptFailedError,
  NetworkError,
  type ServiceErrorCode,
  UserDeniedError,
} from './errors.js';
export { singleFlight } from './single-flight.js';
export { type HttpMethod, type WxApi, type WxRequest, type WxResponse, wxAppId, wxDevice } from './wx.js';
