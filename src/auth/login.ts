import { createHash } from 'node:crypto';
import type { WechatApp } from '../config/apps.js';
import { openUnderSecret, sealUnderSecret } from '../crypto/index.js';
import type { LoginCodes } from '../store/index.js';
import type { TokenResponse } from '../tokens/index.js';
import type { WechatClient } from '../wechat/index.js';
import type { FlowDeps } from './flow.js';

/** What a code exchange gives: the identity, and for a mini-program its session_key. */
interface Exchanged {
  openid: string;
  sessionKey?: string;
  unionid?: string;
}

/** POST /auth/login's flow: a code of a mini-program (wx.login()) or a mobile App (SendAuth) in, a session out. */
export interface Login {
  /**
   * Exchanges the code with WeChat once per code, as `app`'s kind asks (a mini-program's with
   * code2Session, keeping the session_key; a mobile App's with sns/oauth2/access_token, which gives
   * none), then opens a session of that app. The same code sent again while its exchange runs (a double
   * tap) or within the window after it (a retry after a lost answer) gets that exchange's result instead
   * of WeChat's 40163, on any instance, and so a session of its own. `device`: what the client says it
   * is, for its list of sessions.
   */
  login(code: string, app: WechatApp, device?: string): Promise<TokenResponse>;
}

export interface LoginOptions
  extends Omit<FlowDeps<'code2Session' | 'exchangeOAuthCode', LoginCodes, 'login'>, 'wechat'> {
  /** Each app's WeChat client, by appid. */
  wechat: ReadonlyMap<string, Pick<WechatClient, 'code2Session' | 'exchangeOAuthCode'>>;
  /** How long a result is shared; the contract caps it at a minute. */
  windowMs: number;
  /** How long a duplicate waits for the first exchange before asking WeChat itself. */
  waitMs: number;
}

const POLL_MS = 25;

export function createLogin(options: LoginOptions): Login {
  const { wechat, store, sessions, logger, windowMs, waitMs } = options;
  const inFlight = new Map<string, Promise<Exchanged>>();

  /** The exchange the app's kind takes; only what a session needs is kept of its answer. */
  async function ask(app: WechatApp, code: string): Promise<Exchanged> {
    const client = wechat.get(app.appid);
    if (client === undefined) throw new Error(`no WeChat client for app ${app.appid}`);
    if (app.kind === 'mobile') {
      const { openid, unionid } = await client.exchangeOAuthCode(code);
      return { openid, ...(unionid ? { unionid } : {}) };
    }
    return client.code2Session(code);
  }

  async function exchangeOnce(app: WechatApp, code: string, codeHash: string): Promise<Exchanged> {
    const claim = await store.claimLoginCode(codeHash, windowMs);
    if (claim.state === 'done') return openResult(claim.sealedResult, code) ?? ask(app, code);
    if (claim.state === 'pending') return awaitOther(app, code, codeHash);
    let result: Exchanged;
    try {
      result = await ask(app, code);
    } catch (error) {
      // A failed exchange is not shared: the retry gets WeChat's own answer for the code.
      await store.releaseLoginCode(codeHash).catch(() => undefined);
      throw error;
    }
    await share(codeHash, result, code);
    return result;
  }

  /**
   * Sharing the result only helps a double submit: a store that cannot take it now must not cost this
   * login the exchange WeChat already made (the code is spent there).
   */
  async function share(codeHash: string, result: Exchanged, code: string): Promise<void> {
    await store.completeLoginCode(codeHash, sealResult(result, code)).catch(() => undefined);
  }

  async function awaitOther(app: WechatApp, code: string, codeHash: string): Promise<Exchanged> {
    logger.info(
      { event: 'login_code_double_submit' },
      'login code already being exchanged: waiting for that result',
    );
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      const claim = await store.claimLoginCode(codeHash, windowMs);
      if (claim.state === 'done') {
        const result = openResult(claim.sealedResult, code);
        if (result) return result;
        break;
      }
      // The first exchange failed and let go: this request made a claim of its own.
      if (claim.state === 'claimed') return exchangeAsClaimant(app, code, codeHash);
    }
    // The first exchange never finished (its instance died): WeChat answers for the code.
    return ask(app, code);
  }

  async function exchangeAsClaimant(app: WechatApp, code: string, codeHash: string): Promise<Exchanged> {
    try {
      const result = await ask(app, code);
      await share(codeHash, result, code);
      return result;
    } catch (error) {
      await store.releaseLoginCode(codeHash).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Within one process, concurrent requests with one code share one exchange. The code's key names its
   * app too: the same code sent as another app's is that app's to refuse, never this exchange's result.
   */
  function exchange(app: WechatApp, code: string): Promise<Exchanged> {
    const codeHash = createHash('sha256').update(`${app.appid}\n${code}`, 'utf8').digest('base64url');
    const running = inFlight.get(codeHash);
    if (running) return running;
    const promise = exchangeOnce(app, code, codeHash).finally(() => inFlight.delete(codeHash));
    inFlight.set(codeHash, promise);
    return promise;
  }

  return {
    async login(code, app, device) {
      const user = await exchange(app, code);
      return sessions.login({ ...user, app, ...(device ? { device } : {}) });
    },
  };
}

/**
 * The shared result holds a session_key, so it is sealed under a key derived from the code itself:
 * only a request presenting the code can open it, and the code is never stored.
 */
const RESULT_PURPOSE = 'wxauth login code result';

function sealResult(result: Exchanged, code: string): string {
  return sealUnderSecret(JSON.stringify(result), code, RESULT_PURPOSE);
}

function openResult(sealed: string, code: string): Exchanged | null {
  const text = openUnderSecret(sealed, code, RESULT_PURPOSE);
  return text === null ? null : (JSON.parse(text) as Exchanged);
}
