import { createHash, randomInt, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { openUnderSecret, sealUnderSecret } from '../crypto/index.js';
import { InvalidGrant } from '../errors/index.js';
import { type Clock, epochSeconds, randomId } from '../lib/index.js';
import type { WebLoginOutcome } from '../metrics/index.js';
import type {
  WebLoginAdvance,
  WebLoginStatus,
  WebLoginStep,
  WebLoginStore,
  WebLoginTicket,
} from '../store/index.js';
import { TokenResponse } from '../tokens/index.js';
import type { FlowDeps } from './flow.js';
import { sanitizeUserAgent, webDevice } from './user-agent.js';

/** 16 random bytes, base64url: 128 bits within the 32 characters a mini-program code's scene takes. */
export const TICKET_PATTERN = /^[A-Za-z0-9_-]{22}$/;
export const TICKET_SHAPE = 'the 22 characters of a ticket that POST /auth/qr answered';
/** The longest a poll waits for a change, seconds: below the 30 s most proxies and browsers allow. */
export const POLL_WAIT_MAX_S = 25;

/** What a poll answers about its ticket. */
export const POLL_STATUSES = ['pending', 'scanned', 'confirmed', 'canceled', 'expired'] as const;
export type WebLoginPollStatus = (typeof POLL_STATUSES)[number];

/** Two digits, the number the website shows and the phone picks (the confirm's `match`). */
export const MATCH_PATTERN = /^[0-9]{2}$/;
const MATCH = z.string().regex(MATCH_PATTERN);

/*
 * The answers of the web login's routes: the types the code returns and, through z.toJSONSchema, the
 * document's shapes (never parsed at answer time).
 */

/** POST /auth/qr's answer. `poll_token` is for the browser that asked, and only it. */
export const StartedWebLogin = z.object({
  ticket: z.string().regex(TICKET_PATTERN).meta({ description: "128 random bits: the code's scene." }),
  poll_token: z.string().meta({
    description: 'A secret for this browser only (256 random bits; the service keeps its SHA-256).',
  }),
  expires_in: z.int().meta({ description: 'Seconds the code may be scanned and confirmed (QR_LOGIN_TTL).' }),
  // image/png, or image/jpeg if WeChat drew one.
  image: z.string().meta({
    description: 'The mini-program code (wxacode.getUnlimited) as a data: URL, data:image/png;base64,…',
  }),
  match: MATCH.meta({
    description:
      'Two digits to show beside the code: the phone must pick them from three to confirm (number matching).',
  }),
});
export type StartedWebLogin = z.infer<typeof StartedWebLogin>;

/**
 * What the confirm screen shows about the website's request, so that a person notices a code relayed
 * from a phishing page: when it was made, from which address, what the browser says it is, and the
 * numbers to pick the website's from.
 */
export const WebLoginRequest = z
  .object({
    ticket: z.string(),
    created_at: z.int().meta({ description: 'Epoch seconds.' }),
    expires_at: z.int().meta({ description: 'Epoch seconds.' }),
    address: z.string().meta({ description: 'The address of the browser that asked for the code.' }),
    user_agent: z.string().meta({
      description:
        'The User-Agent that browser sent: what it says of itself, never a fact (show it as such). Printable ASCII, at most 256 characters.',
    }),
    device: z.string().meta({
      description:
        "The web session's device, from the same claim, e.g. 'Web · Chrome 120 on Windows': show it as what the browser says it is.",
    }),
    choices: z.array(MATCH).length(3).meta({
      description:
        'Three different two-digit numbers in random order, one of them the match the website shows: the user picks it, and the confirm sends it.',
    }),
  })
  .meta({
    description:
      "What the confirm screen shows about the website's request, so that a relayed code is noticed.",
  });
export type WebLoginRequest = z.infer<typeof WebLoginRequest>;

/** A poll's answer: its ticket's status, and once confirmed the token response of a new session. */
export const WebLoginPoll = z
  .union([
    z.object({ status: z.enum(POLL_STATUSES).exclude(['confirmed']) }),
    z.object({ status: z.literal('confirmed') }).extend(TokenResponse.omit({ is_new_user: true }).shape),
  ])
  .meta({
    description:
      'Once confirmed: the token response of a new session too (the same one again within 30 s of its delivery, to the same poll_token). Canceled when the session that confirmed it ended since.',
  });
export type WebLoginPoll = z.infer<typeof WebLoginPoll>;

/**
 * Web login by scanning a mini-program code: a website shows a code, the user scans it with WeChat,
 * the mini-program (logged in through this service) has them confirm, and the website's poll receives
 * a session of its own for that openid. State lives in the store, so every step may land on another
 * instance than the poll waiting for it.
 */
export interface WebLogin {
  /** A ticket, its poll token and the picture of its code; the address and user agent are the browser's. */
  start(browser: { address: string; userAgent: string | undefined }): Promise<StartedWebLogin>;
  /** The scanning user takes the ticket: only they may confirm or cancel it. A repeated scan answers again. */
  scan(ticket: string, openid: string): Promise<WebLoginRequest>;
  /**
   * The scanning user confirms through their session `sid`, naming the two digits the website shows
   * (`match`): any other value ends the ticket (InvalidGrant). The website's session opens only while
   * that session lives (a logout, deletion or ban after the confirm cancels the ticket).
   */
  confirm(
    ticket: string,
    confirmation: { openid: string; sid: string | undefined; match: string | undefined },
  ): Promise<void>;
  cancel(ticket: string, openid: string): Promise<void>;
  /**
   * The ticket's status for the holder of its poll token, waiting up to `waitS` seconds (at most 25)
   * while it stays `seen` (default: the status when the poll came). Once confirmed, the first poll
   * gets the tokens of a new session and the ticket is used; the same poll token gets the same tokens
   * again within COLLECT_AGAIN_MS (an answer lost on its way). A poll whose `signal` aborted (the
   * browser went away) takes nothing.
   */
  poll(
    ticket: string,
    pollToken: string,
    options: { waitS: number; seen?: WebLoginPollStatus | undefined; signal?: AbortSignal },
  ): Promise<WebLoginPoll>;
}

export interface WebLoginOptions extends FlowDeps<'getUnlimitedWxacode', WebLoginStore, 'openSession'> {
  clock: Clock;
  /** The mini-program page the code opens (QR_LOGIN_PAGE), its version, and a ticket's life. */
  page: string;
  envVersion: 'release' | 'trial' | 'develop';
  ttlS: number;
  observe?: (outcome: WebLoginOutcome) => void;
  /**
   * While a poll waits, how often it reads the ticket again in case a change message was lost (the
   * feed answers within a round trip otherwise), ms. Default 2000.
   */
  recheckMs?: number;
  /**
   * Aborted when the process begins to shut down: waiting polls answer their status at once (the
   * browser polls again, reaching another instance) and later ones do not wait.
   */
  stopping?: AbortSignal | undefined;
}

/**
 * How long the website has to collect a confirmed ticket (at least, even when confirmed at its last
 * second), and to collect a delivered answer again with the same poll token, ms.
 */
export const COLLECT_AGAIN_MS = 30_000;
/**
 * How long a poll waits for a ticket another poll claimed to be sealed (its session opening), and how
 * often it looks: a session opens within a store round trip or two, unless the store stalls.
 */
const UNSEALED_WAIT_MS = 2000;
const UNSEALED_RECHECK_MS = 100;
/** What the delivered answer is sealed for (with the poll token as the secret). */
const DELIVERY_SEAL = 'wxauth web login delivery';

/** Polls waiting on one ticket in one process: more than a browser needs, few enough to cost nothing. */
const MAX_WAITING_PER_TICKET = 4;
const LIVE = new Set<WebLoginStatus>(['pending', 'scanned', 'confirmed']);
const FINAL = new Set<WebLoginStatus>(['confirmed', 'canceled', 'expired', 'delivered']);

const UNKNOWN_CODE = 'This code is unknown or expired: refresh it on the website and scan the new one.';
const UNKNOWN_TICKET =
  "The ticket is unknown or expired, or the poll_token is not this ticket's: start a new web login (POST /auth/qr).";
const MISMATCH =
  'That is not the number the website shows, so this code is canceled: refresh it on the website and scan the new one.';
const NO_SESSION = 'This access token names no session: log in again on the phone, then confirm.';
const USED_TICKET =
  "This ticket's tokens were answered to an earlier poll, and a ticket is used once: start a new web login (POST /auth/qr).";

export function createWebLogin(options: WebLoginOptions): WebLogin {
  const { wechat, store, sessions, clock, logger, page, envVersion, ttlS } = options;
  const observe = options.observe ?? (() => {});
  const recheckMs = options.recheckMs ?? 2000;
  const { stopping } = options;
  const waiting = new Map<string, number>();

  /** The status a client sees: a live ticket past its expiry is expired, whatever is stored. */
  const statusOf = (ticket: WebLoginTicket): WebLoginStatus =>
    LIVE.has(ticket.status) && clock.now() >= ticket.expiresAtMs ? 'expired' : ticket.status;

  /** Marks a ticket seen expired, so that it is counted once; the answer is 'expired' either way. */
  async function noteExpired(ticket: string): Promise<void> {
    const marked = await store
      .advanceWebLogin(ticket, { step: 'expire' }, clock.now())
      .catch(() => undefined);
    if (marked?.kind === 'advanced') observe('expired');
  }

  /** Why the phone's step was refused, as one sentence for its user. */
  async function refusal(ticket: string, found: WebLoginTicket, openid: string): Promise<InvalidGrant> {
    const status = statusOf(found);
    if (status === 'expired') {
      if (found.status !== 'expired') await noteExpired(ticket);
      return new InvalidGrant('This code expired: refresh it on the website and scan the new one.');
    }
    switch (status) {
      case 'pending':
        return new InvalidGrant('Scan the code first (POST /auth/qr/{ticket}/scan), then confirm or cancel.');
      case 'scanned':
        return found.openid === openid
          ? new InvalidGrant('This code is scanned and waits for a confirm or a cancel.')
          : new InvalidGrant('This code was scanned by another user: only they can confirm it.');
      case 'canceled':
        return new InvalidGrant('This login was canceled: refresh the code on the website to start again.');
      default:
        return new InvalidGrant('This code was used already: refresh it on the website to log in again.');
    }
  }

  async function advance(
    ticket: string,
    step: Extract<WebLoginStep, { openid: string }>,
    outcome: WebLoginOutcome,
  ): Promise<WebLoginTicket> {
    return settled(ticket, step, await store.advanceWebLogin(ticket, step, clock.now()), outcome);
  }

  /** The ticket a phone's step moved, or why it was refused. */
  async function settled(
    ticket: string,
    step: Extract<WebLoginStep, { openid: string }>,
    result: WebLoginAdvance,
    outcome: WebLoginOutcome,
  ): Promise<WebLoginTicket> {
    switch (result.kind) {
      case 'advanced':
        observe(outcome);
        return result.ticket;
      case 'unchanged':
        return result.ticket;
      case 'refused':
        throw await refusal(ticket, result.ticket, step.openid);
      case 'unknown':
        throw new InvalidGrant(UNKNOWN_CODE);
    }
  }

  /** The ticket, for the holder of its poll token only; a wrong token is as good as an unknown ticket. */
  async function ownTicket(ticket: string, pollHash: string): Promise<WebLoginTicket> {
    const found = await store.getWebLogin(ticket);
    if (found === null || !sameHash(found.pollHash, pollHash)) throw new InvalidGrant(UNKNOWN_TICKET);
    return found;
  }

  /** The status to answer; 'delivered' is not one: the ticket was used. */
  async function visible(ticket: string, found: WebLoginTicket): Promise<WebLoginPollStatus> {
    const status = statusOf(found);
    if (status === 'delivered') throw new InvalidGrant(USED_TICKET);
    if (status === 'expired' && found.status !== 'expired') await noteExpired(ticket);
    return status;
  }

  /**
   * The confirmed ticket's tokens: the claim makes it delivered, so one session opens, whose answer is
   * kept sealed under the poll token for COLLECT_AGAIN_MS. The session opens only while the one that
   * confirmed it lives; otherwise the ticket is canceled.
   */
  async function deliver(ticket: string, pollToken: string, pollHash: string): Promise<WebLoginPoll> {
    const claimed = await store.advanceWebLogin(ticket, { step: 'claim', pollHash }, clock.now());
    if (claimed.kind === 'unknown') throw new InvalidGrant(UNKNOWN_TICKET);
    if (claimed.kind !== 'advanced') {
      if (claimed.ticket.status === 'delivered')
        return collectAgain(ticket, claimed.ticket, pollToken, UNSEALED_WAIT_MS);
      const status = await visible(ticket, claimed.ticket);
      if (status === 'confirmed') throw new InvalidGrant(USED_TICKET);
      return { status };
    }
    const { openid, userAgent, address, sid } = claimed.ticket;
    let tokens: TokenResponse | null;
    try {
      // A ticket confirmed by an instance of a version before confirms named their session (a rolling
      // deploy) has nothing to check its session against: it is dropped rather than opened unchecked.
      tokens =
        sid === undefined
          ? null
          : await sessions.openSession({ openid: openid!, device: webDevice(userAgent), whileLive: sid });
      if (tokens === null) {
        // The confirming session ended since (a logout, a deletion, a ban): so does this login.
        await store.advanceWebLogin(ticket, { step: 'drop', pollHash }, clock.now());
        observe('canceled');
        logger.info(
          { event: 'web_login_dropped', openid, address },
          'web login canceled: the session that confirmed it has ended',
        );
        return { status: 'canceled' };
      }
    } catch (error) {
      // No session was opened (store down, the user banned): the next poll may claim it again.
      await store.advanceWebLogin(ticket, { step: 'release', pollHash }, clock.now()).catch(() => undefined);
      throw error;
    }
    logger.info(
      { event: 'web_login', openid, address },
      'web login: a session for the browser that showed the code',
    );
    // For a second collection by the same poll token (the answer may be lost on its way): only the
    // browser holds the key, the store keeps the hash of the token and this ciphertext.
    const sealed = sealUnderSecret(JSON.stringify(tokens), pollToken, DELIVERY_SEAL);
    await store.advanceWebLogin(ticket, { step: 'seal', pollHash, sealed }, clock.now()).catch((error) => {
      // The session is open and its tokens go out now; only a second collection is lost.
      logger.warn({ err: error, event: 'web_login_unsealed' }, 'web login: the answer could not be kept');
    });
    return { status: 'confirmed', ...tokens };
  }

  /**
   * The answer of a delivered ticket again, to its poll token, within COLLECT_AGAIN_MS of the delivery,
   * its lifetimes counted from now. A ticket claimed but not yet sealed (its session being opened by
   * the poll that claimed it, whose answer may never arrive) is waited for up to UNSEALED_WAIT_MS, then
   * answered `scanned`, so the browser asks again instead of giving the login up.
   */
  async function collectAgain(
    ticket: string,
    found: WebLoginTicket,
    pollToken: string,
    waitMs: number,
  ): Promise<WebLoginPoll> {
    // Real time for the wait (a test clock stands still), the domain clock for the ticket's expiry.
    const until = performance.now() + Math.min(waitMs, UNSEALED_WAIT_MS);
    let current: WebLoginTicket | null = found;
    while (current?.status === 'delivered' && current.sealed === undefined) {
      if (clock.now() >= current.expiresAtMs) return { status: 'expired' };
      if (performance.now() >= until || stopping?.aborted) return { status: 'scanned' };
      await new Promise((resolve) => setTimeout(resolve, UNSEALED_RECHECK_MS));
      current = await store.getWebLogin(ticket);
    }
    if (current === null) throw new InvalidGrant(UNKNOWN_TICKET);
    if (current.status !== 'delivered') {
      // Released (its session could not open: the next poll claims it again) or dropped meanwhile.
      const status = await visible(ticket, current);
      return { status: status === 'confirmed' ? 'scanned' : status };
    }
    const deliveredAtMs = current.deliveredAtMs ?? Number.NEGATIVE_INFINITY;
    const within = clock.now() < deliveredAtMs + COLLECT_AGAIN_MS;
    const opened =
      within && current.sealed ? openUnderSecret(current.sealed, pollToken, DELIVERY_SEAL) : null;
    if (opened === null) throw new InvalidGrant(USED_TICKET);
    const tokens = JSON.parse(opened) as TokenResponse;
    const spentS = Math.floor((clock.now() - deliveredAtMs) / 1000);
    return {
      status: 'confirmed',
      ...tokens,
      expires_in: Math.max(0, tokens.expires_in - spentS),
      refresh_expires_in: Math.max(0, tokens.refresh_expires_in - spentS),
    };
  }

  /**
   * Resolves with the ticket once its status is no longer `from` (or it is gone), or undefined at the
   * deadline or when `signal` aborts. Woken by the store's feed; reads again every `recheckMs` in case a
   * message was lost, and at the ticket's expiry.
   */
  function changeOf(
    ticket: string,
    from: WebLoginStatus,
    expiresAtMs: number,
    waitMs: number,
    signal: AbortSignal | undefined,
  ): Promise<WebLoginTicket | null | undefined> {
    return new Promise((resolve) => {
      let done = false;
      let reading = false;
      let again = false;
      const timers: NodeJS.Timeout[] = [];
      const finish = (found: WebLoginTicket | null | undefined) => {
        if (done) return;
        done = true;
        watch.stop();
        for (const timer of timers) clearTimeout(timer);
        signal?.removeEventListener('abort', gone);
        stopping?.removeEventListener('abort', gone);
        resolve(found);
      };
      const gone = () => finish(undefined);
      const check = async () => {
        if (done) return;
        if (reading) {
          again = true;
          return;
        }
        reading = true;
        try {
          do {
            again = false;
            const found = await store.getWebLogin(ticket);
            if (found === null || statusOf(found) !== from) finish(found);
          } while (again && !done);
        } catch {
          // The store is away: keep waiting; the deadline answers with the status as it was.
        } finally {
          reading = false;
        }
      };
      const watch = store.watchWebLogin(ticket, () => void check());
      void watch.live.then(check);
      timers.push(setTimeout(() => finish(undefined), waitMs));
      timers.push(setInterval(() => void check(), recheckMs));
      const untilExpiry = expiresAtMs - clock.now();
      if (untilExpiry >= 0 && untilExpiry < waitMs)
        timers.push(setTimeout(() => void check(), untilExpiry + 1));
      signal?.addEventListener('abort', gone);
      stopping?.addEventListener('abort', gone);
      if (signal?.aborted || stopping?.aborted) gone();
      // A change between the caller's read and the watch.
      void check();
    });
  }

  return {
    async start({ address, userAgent }) {
      const ticket = randomId(16);
      const pollToken = randomId(32);
      const choices = numberChoices();
      const match = choices[randomInt(choices.length)]!;
      const nowMs = clock.now();
      // Stored first: a store that cannot take it answers 503 before WeChat's quota is spent on a picture.
      await store.createWebLogin(
        ticket,
        {
          pollHash: hashOf(pollToken),
          status: 'pending',
          createdAtMs: nowMs,
          expiresAtMs: nowMs + ttlS * 1000,
          address,
          userAgent: sanitizeUserAgent(userAgent),
          match,
          choices,
        },
        nowMs,
      );
      const picture = await wechat.getUnlimitedWxacode({ scene: ticket, page, envVersion });
      observe('created');
      return {
        ticket,
        poll_token: pollToken,
        expires_in: ttlS,
        image: `data:${picture.type};base64,${picture.bytes.toString('base64')}`,
        match,
      };
    },

    async scan(ticket, openid) {
      const scanned = await advance(ticket, { step: 'scan', openid }, 'scanned');
      return {
        ticket,
        created_at: epochSeconds(scanned.createdAtMs),
        expires_at: epochSeconds(scanned.expiresAtMs),
        address: scanned.address,
        user_agent: scanned.userAgent,
        device: webDevice(scanned.userAgent),
        choices: scanned.choices,
      };
    },

    async confirm(ticket, { openid, sid, match }) {
      // A token from before sessions had ids names none that the web session could depend on.
      if (sid === undefined) throw new InvalidGrant(NO_SESSION);
      // Confirmed at the ticket's last second, it still leaves the website time to collect.
      const collectUntilMs = clock.now() + COLLECT_AGAIN_MS;
      const step = { step: 'confirm', openid, sid, match: match ?? '', collectUntilMs } as const;
      const result = await store.advanceWebLogin(ticket, step, clock.now());
      if (result.kind === 'advanced' && result.ticket.status === 'canceled') {
        observe('mismatched');
        logger.warn(
          { event: 'web_login_mismatch', openid, address: result.ticket.address },
          'web login: the phone picked another number than the website showed; the ticket is canceled',
        );
        throw new InvalidGrant(MISMATCH);
      }
      const confirmed = await settled(ticket, step, result, 'confirmed');
      logger.info(
        { event: 'web_login_confirmed', openid, address: confirmed.address },
        'web login confirmed on the phone',
      );
    },

    async cancel(ticket, openid) {
      await advance(ticket, { step: 'cancel', openid }, 'canceled');
    },

    async poll(ticket, pollToken, { waitS, seen, signal }) {
      const pollHash = hashOf(pollToken);
      const found = await ownTicket(ticket, pollHash);
      const waitMs = Math.min(Math.max(waitS, 0), POLL_WAIT_MAX_S) * 1000;
      if (found.status === 'delivered') return collectAgain(ticket, found, pollToken, waitMs);
      let status = await visible(ticket, found);
      const from = seen ?? status;
      const count = waiting.get(ticket) ?? 0;
      const mayWait = waitMs > 0 && count < MAX_WAITING_PER_TICKET && !stopping?.aborted;
      if (status === from && !FINAL.has(status) && mayWait) {
        waiting.set(ticket, count + 1);
        let changed: WebLoginTicket | null | undefined;
        try {
          changed = await changeOf(ticket, status, found.expiresAtMs, waitMs, signal);
        } finally {
          const left = (waiting.get(ticket) ?? 1) - 1;
          if (left > 0) waiting.set(ticket, left);
          else waiting.delete(ticket);
        }
        if (changed === null) throw new InvalidGrant(UNKNOWN_TICKET);
        if (changed?.status === 'delivered')
          return collectAgain(ticket, changed, pollToken, UNSEALED_WAIT_MS);
        if (changed !== undefined) status = await visible(ticket, changed);
      }
      // Nobody would receive the tokens: leave them for the browser's next poll.
      if (status === 'confirmed' && !signal?.aborted) return deliver(ticket, pollToken, pollHash);
      return { status: status === 'confirmed' ? 'scanned' : status };
    },
  };
}

/**
 * Three different two-digit numbers in random order. One becomes the match the website shows, so
 * that a person who scans a code relayed from someone else's screen cannot confirm it by chance more
 * than one time in three, and a wrong pick ends the ticket.
 */
function numberChoices(): string[] {
  const picked = new Set<string>();
  while (picked.size < 3) picked.add(String(randomInt(100)).padStart(2, '0'));
  return [...picked];
}

function hashOf(pollToken: string): string {
  return createHash('sha256').update(pollToken, 'utf8').digest('base64url');
}

function sameHash(a: string, b: string): boolean {
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length === y.length && timingSafeEqual(x, y);
}
