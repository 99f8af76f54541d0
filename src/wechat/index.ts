export {
  type AccessTokenManager,
  type AccessTokenStore,
  cacheLifeMs,
  createAccessTokenManager,
  REJECTED_TOKEN_ERRCODES,
} from './access-token.js';
export {
  type Code2SessionResult,
  createWechatClient,
  type SessionKeyDiagnosis,
  toAppError,
  type WechatClient,
  type WechatClientOptions,
  type WxacodePicture,
  type WxacodeRequest,
} from './client.js';
export { PhoneNumber, parsePhoneNumber } from './phone-number.js';
export { createWechatTransport, WechatError, type WechatRequest, type WechatTransport } from './transport.js';
