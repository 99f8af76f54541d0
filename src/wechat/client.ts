import type { Logger } from 'pino';
import {
  AccessDenied,
  type AppError,
  InvalidGrant,
  RateLimited,
  UpstreamUnavailable,
} from '../errors/index.js';
import { createWechatTransport, WechatError, type WechatTransport } from './transport.js';

export interface Code2SessionResult {
  openid: string;
  sessionKey: string;
  unionid?: string;
}

export interface WechatClient {
  readonly appid: string;
  /** auth.code2Session: exchanges a wx.login() code. Errors are already the contract's. */
  code2Session(code: string): Promise<Code2SessionResult>;
}

export interface WechatClientOptions {
  apiBase: string;
  appid: string;
  secret: string;
  timeoutMs: number;
  logger: Logger;
}

const OPENID = /^[A-Za-z0-9_-]{1,64}$/;
const SESSION_KEY = /^[A-Za-z0-9+/]{22}==$/;
/** WeChat rejected our AppID or AppSecret: the operator must fix the settings. */
const CONFIG_FAULTS = new Set([40013, 40125, 41002, 41004]);

export function createWechatClient(options: WechatClientOptions): WechatClient {
  const transport: WechatTransport = createWechatTransport(options);
  const { appid, secret, logger } = options;

  async function code2Session(code: string): Promise<Code2SessionResult> {
    let body: Record<string, unknown>;
    try {
      body = await transport.call({
        api: 'jscode2session',
        method: 'GET',
        path: 'sns/jscode2session',
        searchParams: { appid, secret, js_code: code, grant_type: 'authorization_code' },
      });
    } catch (error) {
      throw toAppError(error, logger);
    }
    const { openid, session_key: sessionKey, unionid } = body;
    if (
      typeof openid !== 'string' ||
      !OPENID.test(openid) ||
      typeof sessionKey !== 'string' ||
      !SESSION_KEY.test(sessionKey)
    ) {
      logger.warn(
        { event: 'wechat_failure', api: 'jscode2session', reason: 'bad_shape' },
        'WeChat jscode2session answered without a usable openid/session_key',
      );
      throw new UpstreamUnavailable(
        'WeChat answered jscode2session without a usable openid and session_key.',
      );
    }
    return { openid, sessionKey, ...(typeof unionid === 'string' && unionid ? { unionid } : {}) };
  }

  return { appid, code2Session };
}

/** WeChat's errcodes as the contract's errors. Transport failures are already AppErrors. */
export function toAppError(error: unknown, logger: Logger): unknown {
  if (!(error instanceof WechatError)) return error;
  const options = { wechatErrcode: error.errcode };
  const mapped: AppError = (() => {
    switch (error.errcode) {
      case 40029:
        return new InvalidGrant('The code is invalid or expired: call wx.login() again.', options);
      case 40163:
        return new InvalidGrant('The code was already used: call wx.login() again.', options);
      case 45011:
        return new RateLimited(
          'WeChat limits this user to fewer logins per minute: wait and retry.',
          options,
        );
      case 40226:
        return new AccessDenied("WeChat's risk control refused this user.", options);
      case -1:
        return new UpstreamUnavailable('WeChat is busy: retry shortly.', options);
      default:
        if (CONFIG_FAULTS.has(error.errcode)) {
          logger.error(
            { event: 'wechat_config_fault', api: error.api, errcode: error.errcode, rid: error.rid },
            'WeChat rejected the AppID or AppSecret: check WECHAT_APPID and WECHAT_SECRET',
          );
          return new UpstreamUnavailable(
            'The service is misconfigured for WeChat; its operators have been told.',
            options,
          );
        }
        return new UpstreamUnavailable(
          `WeChat answered ${error.api} with errcode ${error.errcode}.`,
          options,
        );
    }
  })();
  return mapped;
}
