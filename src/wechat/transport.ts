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
  /** A call whose answer is a JSON object (errcode 0 or none); WechatError for a non-zero errcode. */
  call(request: WechatRequest): Promise<Record<string, unknown>>;
  /**
   * A call whose answer is bytes (a picture) unless it failed: WeChat then answers a JSON errcode body,
   * with the same Content-Type as a picture, so the two are told apart by the body itself.
   */
  callForBytes(request: WechatRequest): Promise<Buffer>;
}

/** What one call came to, decided once; acting on it (breaker, metric, log, answer) follows from it. */
type Outcome =
  | { kind: 'json'; record: Record<string, unknown> }
  | { kind: 'bytes'; bytes: Buffer }
  | { kind: 'errcode'; code: number; errmsg: string; rid: string | undefined }
  /** WeChat unwell or unreachable: counts against its breaker. */
  | { kind: 'failure'; metric: string; detail: Record<string, unknown>; message: string; timeout: boolean };

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

  /** The answer's bytes, or why there is none; never throws. */
  async function send(request: WechatRequest, remainingMs: number, bytes: boolean): Promise<Outcome> {
    let status: number;
    let body: Buffer;
    try {
      const response = await http(request.path, {
        method: request.method,
        responseType: 'buffer',
        timeout: { request: remainingMs },
        ...(request.searchParams ? { searchParams: request.searchParams } : {}),
        ...(request.json === undefined ? {} : { json: request.json }),
      });
      status = response.statusCode;
      body = response.body;
    } catch (error) {
      // got's error carries the request URL, whose query holds the AppSecret: keep only its code.
      const code = error instanceof RequestError ? error.code : 'UNKNOWN';
      const timeout = code === 'ETIMEDOUT';
      return {
        kind: 'failure',
        metric: timeout ? 'timeout' : 'network',
        detail: { reason: code },
        message: timeout
          ? `WeChat did not answer ${request.api} in time.`
          : `WeChat could not be reached for ${request.api}.`,
        timeout,
      };
    }
    if (status !== 200) {
      return {
        kind: 'failure',
        metric: `http_${status}`,
        detail: { status },
        message: `WeChat answered ${request.api} with HTTP ${status}.`,
        timeout: false,
      };
    }
    // A picture never starts with '{'; WeChat's errcode bodies (labelled image/jpeg too) always do.
    if (bytes && body.length > 0 && body[0] !== 0x7b) return { kind: 'bytes', bytes: body };
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      return {
        kind: 'failure',
        metric: 'not_json',
        detail: { reason: 'not_json' },
        message: `WeChat answered ${request.api} with something that is not JSON.`,
        timeout: false,
      };
    }
    const record = parsed as Record<string, unknown>;
    const errcode = record.errcode;
    if (errcode !== undefined && errcode !== 0) {
      const errmsg = typeof record.errmsg === 'string' ? record.errmsg : '';
      const code = typeof errcode === 'number' ? errcode : Number(errcode);
      return {
        kind: 'errcode',
        code: Number.isFinite(code) ? code : -1,
        errmsg,
        rid: /rid:\s*([\w-]+)/.exec(errmsg)?.[1],
      };
    }
    // An API that answers bytes answered JSON without an errcode: not what it promises.
    if (bytes) {
      return {
        kind: 'failure',
        metric: 'not_bytes',
        detail: { reason: 'not_bytes' },
        message: `WeChat answered ${request.api} with JSON but no picture.`,
        timeout: false,
      };
    }
    return { kind: 'json', record };
  }

  async function perform(request: WechatRequest, bytes: boolean): Promise<Outcome> {
    const remainingMs = Math.ceil(
      (request.deadline ?? performance.now() + options.timeoutMs) - performance.now(),
    );
    if (remainingMs <= 0) {
      // The operation's earlier calls used up its time: WeChat is slow, but this API was not asked.
      observe(request.api, 'deadline');
      throw new UpstreamUnavailable(`WeChat did not answer in time (no time was left for ${request.api}).`, {
        timeout: true,
      });
    }
    const breaker = breakerOf(request.api);
    const admission = breaker.admit();
    if (!admission.allowed) {
      observe(request.api, 'circuit_open');
      throw new UpstreamUnavailable(
        `WeChat's ${request.api} has been failing repeatedly; the service is not calling it for a few seconds.`,
        { retryAfter: admission.retryAfterS },
      );
    }
    const outcome = await send(request, remainingMs, bytes);
    // Only failures and "system busy" (-1) say WeChat is unwell; other errcodes answer the request. A
    // timeout of a call that got only the scraps of its operation's deadline says nothing about the API.
    const starved = outcome.kind === 'failure' && outcome.timeout && remainingMs < options.timeoutMs / 2;
    if (outcome.kind === 'failure' || (outcome.kind === 'errcode' && outcome.code === -1)) {
      if (starved) breaker.inconclusive();
      else breaker.failed();
    } else breaker.succeeded();
    switch (outcome.kind) {
      case 'failure':
        observe(request.api, outcome.metric);
        log.warn(
          { event: 'wechat_failure', api: request.api, ...outcome.detail },
          `WeChat ${request.api} failed: ${outcome.metric}`,
        );
        throw new UpstreamUnavailable(outcome.message, {
          timeout: outcome.timeout,
          ...(outcome.metric === 'timeout' || outcome.metric === 'network'
            ? { cause: new Error(String(outcome.detail.reason)) }
            : {}),
        });
      case 'errcode':
        observe(request.api, String(outcome.code));
        log.warn(
          {
            event: 'wechat_failure',
            api: request.api,
            errcode: outcome.code,
            errmsg: outcome.errmsg,
            rid: outcome.rid,
          },
          `WeChat ${request.api} errcode ${outcome.code}`,
        );
        throw new WechatError(request.api, outcome.code, outcome.errmsg, outcome.rid);
      default:
        observe(request.api, 'ok');
        return outcome;
    }
  }

  return {
    async call(request) {
      const outcome = await perform(request, false);
      if (outcome.kind !== 'json') throw new Error('unreachable: a JSON call answered bytes');
      return outcome.record;
    },
    async callForBytes(request) {
      const outcome = await perform(request, true);
      if (outcome.kind !== 'bytes') throw new Error('unreachable: a bytes call answered JSON');
      return outcome.bytes;
    },
  };
}
