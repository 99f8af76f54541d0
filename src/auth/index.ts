export { createLogin, type Login, type LoginOptions } from './login.js';
export {
  type BrowserAnswer,
  createOAuth,
  type OAuth,
  type OAuthOptions,
  type OAuthTokenResponse,
} from './oauth.js';
export { createOpenData, type OpenData, type OpenDataCaller, type OpenDataFields } from './open-data.js';
export {
  createWebLogin,
  type StartedWebLogin,
  type WebLogin,
  type WebLoginOptions,
  type WebLoginPoll,
  type WebLoginPollStatus,
  type WebLoginRequest,
} from './web-login.js';
