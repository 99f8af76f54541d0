import got, { type Got, type Method, RequestError } from 'got';
import type { Logger } from 'pino';
import { UpstreamUnavailable } from '../errors/index.js';
import { type Clock, systemClock } from '../lib/index.js';
import { CircuitBreaker } from './breaker.js';

/** WeChat answered, with a non-zero errcode. The caller decides what it means for its API. */
export class WechatError extends Error {
  override name = 'WechatError';
  constructor(
    readonly api: string,
    readonly errcode: number,
    readonly errmsg: string,
    readonly rid: string | undefined,
  ) {
    super(`WeChat ${api} answered errcode ${errcode}`);
  }
}

export interface WechatRequest {
  /** A short name for logs and metrics, e.g. 'jscode2session'. */
  api: string;
  method: Method;
  path: string;
  searchParams?: Record<string, string>;
  json?: unknown;
  /**
   * When the client-facing operation this call belongs to must be done (performance.now() time): the
   * call gets only what is left of it. Default: a full timeoutMs from now.
   */
  deadline?: number;
}

export interface WechatTransport {
  call(request: WechatRequest): Promise<Record<string, unknown>>;
}

/**
 * One HTTP call to WeChat. WeChat reports errors as HTTP 200 with `{errcode, errmsg}`, and some APIs
 * (jscode2session) answer JSON as text/plain, so bodies are parsed whatever the Content-Type. No retry:
 * a login code is single use, so a request that may have reached WeChat must not be sent twice.
 */
export interface WechatTransportOptions {
  apiBase: string;
  timeoutMs: number;
  logger: Logger;
  clock?: Clock;
  /**
   * Consecutive failures (unreachable, timeout, HTTP error, not JSON, -1 busy) of one API before that
   * API fails fast.
   */
  breakerThreshold?: number;
  breakerCooldownMs?: number;
  /** Told the outcome of every call: 'ok', the errcode, or the failure's name. For metrics. */
  onCall?: (api: string, outcome: string) => void;
}

export function createWechatTransport(options: WechatTransportOptions): WechatTransport {
  const http: Got = got.extend({
    prefixUrl: options.apiBase,
    timeout: { request: options.timeoutMs },
    retry: { limit: 0 },
    throwHttpErrors: false,
    followRedirect: false,
    responseType: 'text',
    headers: { 'user-agent': 'wxauth' },
  });
  const log = options.logger;
  const observe = options.onCall ?? (() => {});
  // One breaker per API: WeChat's APIs fail independently, and a failing diagnostic one (checksession)
  // must not stop logins. The APIs are the client's few fixed names, so the map stays small.
  const breakers = new Map<string, CircuitBreaker>();
  const breakerOf = (api: string): CircuitBreaker => {
    let breaker = breakers.get(api);
    if (!breaker) {
      breaker = new CircuitBreaker({
        threshold: options.breakerThreshold ?? 5,
        cooldownMs: options.breakerCooldownMs ?? 5000,
        clock: options.clock ?? systemClock,
      });
      breakers.set(api, breaker);
    }
    return breaker;
  };

  return {
    async call(request) {
      const remainingMs = Math.ceil(
        (request.deadline ?? performance.now() + options.timeoutMs) - performance.now(),
      );
      if (remainingMs <= 0) {
        // The operation's earlier calls used up its time: WeChat is slow, but this API was not asked.
        observe(request.api, 'deadline');
        throw new UpstreamUnavailable(
          `WeChat did not answer in time (no time was left for ${request.api}).`,
          {
            timeout: true,
          },
        );
      }
      const breaker = breakerOf(request.api);
      const admission = breaker.admit();
      if (!admission.allowed) {
        observe(request.api, 'circuit_open');
        throw new UpstreamUnavailable(
          `WeChat's ${request.api} has been failing repeatedly; the service is not calling it for a few seconds.`,
          {
            retryAfter: admission.retryAfterS,
          },
        );
      }
      let status: number;
      let text: string;
      try {
        const response = await http(request.path, {
          method: request.method,
          timeout: { request: remainingMs },
          ...(request.searchParams ? { searchParams: request.searchParams } : {}),
          ...(request.json === undefined ? {} : { json: request.json }),
        });
        status = response.statusCode;
        text = response.body;
      } catch (error) {
        // got's error carries the request URL, whose query holds the AppSecret: keep only its code.
        const code = error instanceof RequestError ? error.code : 'UNKNOWN';
        const timeout = code === 'ETIMEDOUT';
        breaker.failed();
        observe(request.api, timeout ? 'timeout' : 'network');
        log.warn(
          { event: 'wechat_failure', api: request.api, reason: code },
          `WeChat ${request.api} ${timeout ? 'timed out' : 'unreachable'}`,
        );
        throw new UpstreamUnavailable(
          timeout
            ? `WeChat did not answer ${request.api} in time.`
            : `WeChat could not be reached for ${request.api}.`,
          { timeout, cause: new Error(code) },
        );
      }
      if (status !== 200) {
        breaker.failed();
        observe(request.api, `http_${status}`);
        log.warn(
          { event: 'wechat_failure', api: request.api, status },
          `WeChat ${request.api} answered HTTP ${status}`,
        );
        throw new UpstreamUnavailable(`WeChat answered ${request.api} with HTTP ${status}.`);
      }
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        breaker.failed();
        observe(request.api, 'not_json');
        log.warn(
          { event: 'wechat_failure', api: request.api, reason: 'not_json' },
          `WeChat ${request.api} answered something that is not JSON`,
        );
        throw new UpstreamUnavailable(`WeChat answered ${request.api} with something that is not JSON.`);
      }
      const record = body as Record<string, unknown>;
      const errcode = record.errcode;
      if (errcode !== undefined && errcode !== 0) {
        const errmsg = typeof record.errmsg === 'string' ? record.errmsg : '';
        const rid = /rid:\s*([\w-]+)/.exec(errmsg)?.[1];
        const code = typeof errcode === 'number' ? errcode : Number(errcode);
        // Only "system busy" says WeChat is unwell; other errcodes are answers about the request.
        if (code === -1) breaker.failed();
        else breaker.succeeded();
        observe(request.api, String(code));
        log.warn(
          { event: 'wechat_failure', api: request.api, errcode: code, errmsg, rid },
          `WeChat ${request.api} errcode ${code}`,
        );
        throw new WechatError(request.api, Number.isFinite(code) ? code : -1, errmsg, rid);
      }
      breaker.succeeded();
      observe(request.api, 'ok');
      return record;
    },
  };
}
