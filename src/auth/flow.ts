import type { Logger } from 'pino';
import type { Sessions } from '../tokens/index.js';
import type { WechatClient } from '../wechat/index.js';

/**
 * What a flow of auth/ is built from: the WeChat APIs it calls, its part of the store, the session
 * operations it uses and the logger. Narrowed to what each flow uses, so a test builds a flow from
 * exactly that and a flow cannot reach for more.
 */
export interface FlowDeps<Api extends keyof WechatClient, Store, Session extends keyof Sessions> {
  wechat: Pick<WechatClient, Api>;
  store: Store;
  sessions: Pick<Sessions, Session>;
  logger: Logger;
}
