import { createHash } from 'node:crypto';
import { openUnderSecret, sealUnderSecret } from '../crypto/index.js';
import type { LoginCodes } from '../store/index.js';
import type { TokenResponse } from '../tokens/index.js';
import type { Code2SessionResult } from '../wechat/index.js';
import type { FlowDeps } from './flow.js';

/** POST /auth/login's flow: a wx.login() code in, the user's session out. */
export interface Login {
  /**
   * Exchanges the code with WeChat (code2Session) once per code, then keeps the session_key and opens a
   * session. The same code sent again while its exchange runs (a double tap) or within the window after
   * it (a retry after a lost answer) gets that exchange's result instead of WeChat's 40163, on any
   * instance, and so a session of its own. `device`: what the client says it is, for its list of sessions.
   */
  login(code: string, device?: string): Promise<TokenResponse>;
}

export interface LoginOptions extends FlowDeps<'code2Session', LoginCodes, 'login'> {
  /** How long a result is shared; the contract caps it at a minute. */
  windowMs: number;
  /** How long a duplicate waits for the first exchange before asking WeChat itself. */
  waitMs: number;
}

const POLL_MS = 25;

export function createLogin(options: LoginOptions): Login {
  const { wechat, store, sessions, logger, windowMs, waitMs } = options;
  const inFlight = new Map<string, Promise<Code2SessionResult>>();

  async function exchangeOnce(code: string, codeHash: string): Promise<Code2SessionResult> {
    const claim = await store.claimLoginCode(codeHash, windowMs);
    if (claim.state === 'done') return openResult(claim.sealedResult, code) ?? wechat.code2Session(code);
    if (claim.state === 'pending') return awaitOther(code, codeHash);
    let result: Code2SessionResult;
    try {
      result = await wechat.code2Session(code);
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
  async function share(codeHash: string, result: Code2SessionResult, code: string): Promise<void> {
    await store.completeLoginCode(codeHash, sealResult(result, code)).catch(() => undefined);
  }

  async function awaitOther(code: string, codeHash: string): Promise<Code2SessionResult> {
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
      if (claim.state === 'claimed') return exchangeAsClaimant(code, codeHash);
    }
    // The first exchange never finished (its instance died): WeChat answers for the code.
    return wechat.code2Session(code);
  }

  async function exchangeAsClaimant(code: string, codeHash: string): Promise<Code2SessionResult> {
    try {
      const result = await wechat.code2Session(code);
      await share(codeHash, result, code);
      return result;
    } catch (error) {
      await store.releaseLoginCode(codeHash).catch(() => undefined);
      throw error;
    }
  }

  /** Within one process, concurrent requests with one code share one exchange. */
  function exchange(code: string): Promise<Code2SessionResult> {
    const codeHash = createHash('sha256').update(code, 'utf8').digest('base64url');
    const running = inFlight.get(codeHash);
    if (running) return running;
    const promise = exchangeOnce(code, codeHash).finally(() => inFlight.delete(codeHash));
    inFlight.set(codeHash, promise);
    return promise;
  }

  return {
    async login(code, device) {
      const user = await exchange(code);
      return sessions.login(device ? { ...user, device } : user);
    },
  };
}

/**
 * The shared result holds a session_key, so it is sealed under a key derived from the code itself:
 * only a request presenting the code can open it, and the code is never stored.
 */
const RESULT_PURPOSE = 'wxauth login code result';

function sealResult(result: Code2SessionResult, code: string): string {
  return sealUnderSecret(JSON.stringify(result), code, RESULT_PURPOSE);
}

function openResult(sealed: string, code: string): Code2SessionResult | null {
  const text = openUnderSecret(sealed, code, RESULT_PURPOSE);
  return text === null ? null : (JSON.parse(text) as Code2SessionResult);
}
