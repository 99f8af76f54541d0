/**
 * The website's side of wxauth: `createWebAuth({ baseUrl })` logs a person in by a mini-program code
 * they scan with WeChat (startQrLogin(): show its image, wait()), then attaches the access token to
 * requests to the service and refreshes it. Or, for an official account's pages and a website's
 * WeChat QR login, loginWithRedirect() and handleRedirectCallback(): OAuth 2.0 with PKCE and OIDC. Nothing but fetch and Web Storage; an ES module with types.
 */
export { AuthError, type WebAuthErrorCode } from './errors.js';
export type { IdTokenClaims } from './redirect.js';
export {
  createWebAuth,
  DEFAULT_STORAGE_KEY,
  type QrLogin,
  type QrLoginResult,
  type QrLoginStatus,
  type RedirectLoginOptions,
  type RedirectLoginResult,
  type StorageLike,
  type WebAuth,
  type WebAuthOptions,
  type WebSession,
} from './web-auth.js';
