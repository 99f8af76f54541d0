export { type Code2SessionResult, createWechatClient, toAppError, type WechatClient, type WechatClientOptions } from './client.js';
export { createWechatTransport, type WechatRequest, type WechatTransport, WechatError } from './transport.js';
