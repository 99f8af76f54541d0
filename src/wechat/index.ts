export {
  type Code2SessionResult,
  createWechatClient,
  toAppError,
  type WechatClient,
  type WechatClientOptions,
} from './client.js';
export { createWechatTransport, WechatError, type WechatRequest, type WechatTransport } from './transport.js';
