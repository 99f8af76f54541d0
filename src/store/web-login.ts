import type { Cluster, Redis } from 'ioredis';
import { Subscription } from './connection.js';
import { appKeys } from './keys.js';
import { GUARDS, INT } from './scripts.js';

/**
 * Web login by scanning a mini-program code: the tickets, kept apart from the users' keys. A ticket is
 * app-wide (one key per method, no hash tag) and short-lived. Same conventions as SessionStore (types.ts):
 * `nowMs` is the caller's clock, each method is one atomic round trip that rejects with
 * TemporarilyUnavailable (and changes nothing) when the store cannot serve.
 *
 *   pending ──scan──▶ scanned ──confirm──▶ confirmed ──claim──▶ delivered ──seal──▶ delivered, sealed
 *                        ├──────cancel──▶ canceled          ◀──release──┘
 *                        └──confirm with another match──▶ canceled
 *                                         canceled ◀──drop── delivered (the session could not open)
 *   pending, scanned, confirmed ──(at expiresAtMs)──▶ refused everything; `expire` marks them expired
 */
export type WebLoginStatus = 'pending' | 'scanned' | 'confirmed' | 'canceled' | 'expired' | 'delivered';

export interface WebLoginTicket {
  /** base64url SHA-256 of the poll token: the browser that holds the token is the only one answered. */
  pollHash: string;
  status: WebLoginStatus;
  createdAtMs: number;
  /** From then on every step is refused (caller's clock). */
  expiresAtMs: number;
  /** The browser that asked for it, as the confirm screen shows it. */
  address: string;
  userAgent: string;
  /** The two digits the website shows, which the confirm must name (number matching). */
  match: string;
  /** What the phone offers to pick from: three different two-digit strings, `match` among them. */
  choices: string[];
  /** The user who scanned it; only they may confirm or cancel. */
  openid?: string;
  /** The session (family id) whose access token confirmed it: the web session opens only while it lives. */
  sid?: string;
  /**
   * The token response delivered, sealed under a key only the poll token gives (the store never sees
   * it), so that the same poll token can collect it again for a short while; and when it was delivered.
   */
  sealed?: string;
  deliveredAtMs?: number;
}

export type WebLoginStep =
  /** pending → scanned by `openid`; a repeated scan by the same user is `unchanged`. */
  | { step: 'scan'; openid: string }
  /**
   * scanned by `openid` → confirmed, by their session `sid`, when `match` is the ticket's, and its
   * expiry moved to `collectUntilMs` when that is later (the website's time to collect); with any other
   * match → canceled (a guess ends the ticket).
   */
  | { step: 'confirm'; openid: string; sid: string; match: string; collectUntilMs: number }
  /** scanned by `openid` → canceled. */
  | { step: 'cancel'; openid: string }
  /** confirmed → delivered, for the holder of the poll token: tokens go out once. */
  | { step: 'claim'; pollHash: string }
  /** delivered → sealed as well, at nowMs: the answer the claimant gave, for the same poll token again. */
  | { step: 'seal'; pollHash: string; sealed: string }
  /** delivered, not sealed → confirmed: the claimant could not open the session; the next poll may claim it. */
  | { step: 'release'; pollHash: string }
  /** delivered, not sealed → canceled: the session may not open (the one that confirmed it ended). */
  | { step: 'drop'; pollHash: string }
  /** pending, scanned or confirmed past its expiry → expired, so that its end is counted once. */
  | { step: 'expire' };

export type WebLoginAdvance =
  /** The step changed the ticket (now as given) and every watcher is told. */
  | { kind: 'advanced'; ticket: WebLoginTicket }
  /** Already where the step leads (a repeated scan, an expiry marked before): nothing changed. */
  | { kind: 'unchanged'; ticket: WebLoginTicket }
  /** Its state does not take the step: another user's, used, canceled, expired, a wrong poll token. */
  | { kind: 'refused'; ticket: WebLoginTicket }
  /** No such ticket: never created, or collected after its expiry. */
  | { kind: 'unknown' };

/** A watch on one ticket. */
export interface WebLoginWatch {
  /**
   * Resolves once every change from then on, by any instance, reaches the watcher; read the ticket
   * again then, for what changed before. When the feed was cut and is back, the watcher is told once,
   * since it may have missed a change. Never rejects (it waits while the store is unreachable).
   */
  readonly live: Promise<void>;
  stop(): void;
}

export interface WebLoginStore {
  /** A new ticket; the store forgets it WEB_LOGIN_KEEP_MS after its expiry. */
  createWebLogin(ticket: string, record: WebLoginTicket, nowMs: number): Promise<void>;
  /** The ticket as it is, or null. Never changes anything (an expiry is the caller's to see). */
  getWebLogin(ticket: string): Promise<WebLoginTicket | null>;
  advanceWebLogin(ticket: string, step: WebLoginStep, nowMs: number): Promise<WebLoginAdvance>;
  /** Calls `onChange` after each change of the ticket, by this instance or another. */
  watchWebLogin(ticket: string, onChange: () => void): WebLoginWatch;
}

/** How long a ticket outlives its expiry, so that a late poll hears "expired" rather than "unknown". */
export const WEB_LOGIN_KEEP_MS = 10 * 60_000;

const LIVE = new Set<WebLoginStatus>(['pending', 'scanned', 'confirmed']);

/** Where a step takes a ticket, as the Lua script ADVANCE decides it too. */
function decide(
  ticket: WebLoginTicket,
  step: WebLoginStep,
  nowMs: number,
): WebLoginAdvance['kind'] | WebLoginTicket {
  const { status } = ticket;
  const late = nowMs >= ticket.expiresAtMs;
  const to = (next: WebLoginStatus, changes: Partial<WebLoginTicket> = {}): WebLoginTicket => ({
    ...ticket,
    ...changes,
    status: next,
  });
  switch (step.step) {
    case 'expire':
      if (LIVE.has(status) && late) return to('expired');
      return status === 'expired' ? 'unchanged' : 'refused';
    case 'seal':
    case 'release':
    case 'drop': {
      const claimed = status === 'delivered' && ticket.sealed === undefined;
      if (!claimed || ticket.pollHash !== step.pollHash) return 'refused';
      if (step.step === 'seal') return to('delivered', { sealed: step.sealed, deliveredAtMs: nowMs });
      return to(step.step === 'release' ? 'confirmed' : 'canceled');
    }
    default:
      break;
  }
  if (!LIVE.has(status) || late) return 'refused';
  switch (step.step) {
    case 'scan':
      if (status === 'pending') return to('scanned', { openid: step.openid });
      return status === 'scanned' && ticket.openid === step.openid ? 'unchanged' : 'refused';
    case 'confirm':
      if (status !== 'scanned' || ticket.openid !== step.openid) return 'refused';
      if (step.match !== ticket.match) return to('canceled');
      return to('confirmed', {
        sid: step.sid,
        expiresAtMs: Math.max(ticket.expiresAtMs, Math.floor(step.collectUntilMs)),
      });
    case 'cancel':
      return status === 'scanned' && ticket.openid === step.openid ? to('canceled') : 'refused';
    case 'claim':
      return status === 'confirmed' && ticket.pollHash === step.pollHash ? to('delivered') : 'refused';
  }
}

/** Tickets in this process's memory (the zero-config store): watchers are this process's only. */
export class MemoryWebLoginStore implements WebLoginStore {
  private readonly tickets = new Map<string, { ticket: WebLoginTicket; untilMs: number }>();
  private readonly watchers = new Map<string, Set<() => void>>();

  async createWebLogin(ticket: string, record: WebLoginTicket, nowMs: number): Promise<void> {
    for (const [id, kept] of this.tickets) if (kept.untilMs <= nowMs) this.tickets.delete(id);
    this.tickets.set(ticket, { ticket: { ...record }, untilMs: record.expiresAtMs + WEB_LOGIN_KEEP_MS });
  }

  async getWebLogin(ticket: string): Promise<WebLoginTicket | null> {
    const kept = this.tickets.get(ticket);
    return kept === undefined ? null : { ...kept.ticket };
  }

  async advanceWebLogin(ticket: string, step: WebLoginStep, nowMs: number): Promise<WebLoginAdvance> {
    const kept = this.tickets.get(ticket);
    if (kept === undefined || kept.untilMs <= nowMs) return { kind: 'unknown' };
    const decided = decide(kept.ticket, step, nowMs);
    if (typeof decided === 'string') return { kind: decided, ticket: { ...kept.ticket } } as WebLoginAdvance;
    kept.ticket = decided;
    kept.untilMs = Math.max(kept.untilMs, decided.expiresAtMs + WEB_LOGIN_KEEP_MS);
    // After the caller has its answer, as a message from Redis would come.
    const watchers = [...(this.watchers.get(ticket) ?? [])];
    setImmediate(() => {
      for (const onChange of watchers) onChange();
    });
    return { kind: 'advanced', ticket: { ...decided } };
  }

  watchWebLogin(ticket: string, onChange: () => void): WebLoginWatch {
    const set = this.watchers.get(ticket) ?? new Set();
    this.watchers.set(ticket, set);
    const watcher = () => onChange();
    set.add(watcher);
    return {
      live: Promise.resolve(),
      stop: () => {
        set.delete(watcher);
        if (set.size === 0 && this.watchers.get(ticket) === set) this.watchers.delete(ticket);
      },
    };
  }

  close(): void {
    this.tickets.clear();
    this.watchers.clear();
  }
}

/** A ticket in Redis is a hash; its fields: APP_KEY_LAYOUT.webLogin in keys.ts. */
const TICKET_FIELDS = `
local LIVE = { pending = true, scanned = true, confirmed = true }`;

/**
 * KEYS: ticket. ARGV: deadline, ttl ms, then the fields and values. Answers 1, or 0 when the ticket
 * exists (its id is 128 random bits: only a bug makes one twice).
 */
export const CREATE_WEB_LOGIN = `${GUARDS}
local refused = check_deadline(ARGV[1]) or check_types(KEYS[1], 'hash')
if refused then return refused end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/**
 * KEYS: ticket. ARGV: deadline, step, now, who (openid or poll hash; '' for expire), channel, ticket id,
 * then for a confirm the confirming session's id, the match it names and the time until which the
 * website may collect (ms; the ticket's expiry moves there when later), for a seal the sealed answer.
 * The same decisions as decide() in web-login.ts. Answers {kind, HGETALL of the ticket} or {'unknown'};
 * an advance publishes the ticket id.
 */
export const ADVANCE_WEB_LOGIN = `${INT}${GUARDS}${TICKET_FIELDS}
local refused = check_deadline(ARGV[1]) or check_types(KEYS[1], 'hash')
if refused then return refused end
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unknown'} end
local t = redis.call('HMGET', KEYS[1], 's', 'e', 'o', 'p', 'm')
local s, o, p, m = t[1], t[3], t[4], t[5]
local step, who = ARGV[2], ARGV[4]
local late = tonumber(ARGV[3]) >= tonumber(t[2])
local kind, next, openid, sid = 'refused', nil, nil, nil
if step == 'expire' then
  if LIVE[s] and late then next = 'expired' elseif s == 'expired' then kind = 'unchanged' end
elseif step == 'seal' or step == 'release' or step == 'drop' then
  if s == 'delivered' and p == who and redis.call('HEXISTS', KEYS[1], 'r') == 0 then
    if step == 'seal' then
      next = 'delivered'
      redis.call('HSET', KEYS[1], 'r', ARGV[7], 'd', ARGV[3])
    elseif step == 'release' then next = 'confirmed' else next = 'canceled' end
  end
elseif LIVE[s] and not late then
  if step == 'scan' then
    if s == 'pending' then next, openid = 'scanned', who
    elseif s == 'scanned' and o == who then kind = 'unchanged' end
  elseif step == 'confirm' then
    if s == 'scanned' and o == who then
      if ARGV[8] == m then
        next, sid = 'confirmed', ARGV[7]
        local collect = tonumber(ARGV[9])
        if collect > tonumber(t[2]) then
          redis.call('HSET', KEYS[1], 'e', ARGV[9])
          redis.call('PEXPIRE', KEYS[1], math.max(collect - tonumber(ARGV[3]), 0) + ${WEB_LOGIN_KEEP_MS})
        end
      else next = 'canceled' end
    end
  elseif step == 'cancel' then
    if s == 'scanned' and o == who then next = 'canceled' end
  elseif step == 'claim' then
    if s == 'confirmed' and p == who then next = 'delivered' end
  end
end
if next then
  redis.call('HSET', KEYS[1], 's', next)
  if openid then redis.call('HSET', KEYS[1], 'o', openid) end
  if sid then redis.call('HSET', KEYS[1], 'i', sid) end
  redis.call('PUBLISH', ARGV[5], ARGV[6])
  kind = 'advanced'
end
return {kind, redis.call('HGETALL', KEYS[1])}
`;

interface WebLoginCommands {
  wxauthCreateWebLogin(key: string, ...args: string[]): Promise<number>;
  wxauthAdvanceWebLogin(key: string, ...args: string[]): Promise<[string, string[]?]>;
}

export interface RedisWebLoginOptions {
  prefix: string;
  /** The store's way of running a command: refusals as TemporarilyUnavailable, the stall guard. */
  call<T>(command: () => Promise<T>): Promise<T>;
  /** The deadline a script carries, by Redis's clock (RedisStore's). */
  deadline(): string;
}

/** Tickets in Redis, and one subscriber connection per instance for their changes. */
export class RedisWebLoginStore implements WebLoginStore {
  private readonly scripts: WebLoginCommands;
  private readonly feed: WebLoginFeed;

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly options: RedisWebLoginOptions,
  ) {
    redis.defineCommand('wxauthCreateWebLogin', { numberOfKeys: 1, lua: CREATE_WEB_LOGIN });
    redis.defineCommand('wxauthAdvanceWebLogin', { numberOfKeys: 1, lua: ADVANCE_WEB_LOGIN });
    this.scripts = redis as unknown as WebLoginCommands;
    this.feed = new WebLoginFeed(redis, appKeys(options.prefix).webLoginChannel);
  }

  async createWebLogin(ticket: string, record: WebLoginTicket, nowMs: number): Promise<void> {
    const ttl = Math.max(Math.round(record.expiresAtMs - nowMs + WEB_LOGIN_KEEP_MS), 1);
    const fields = ['p', record.pollHash, 's', record.status, 'c', int(record.createdAtMs)];
    fields.push('e', int(record.expiresAtMs), 'a', record.address, 'u', record.userAgent);
    fields.push('m', record.match, 'h', record.choices.join(' '));
    if (record.openid !== undefined) fields.push('o', record.openid);
    if (record.sid !== undefined) fields.push('i', record.sid);
    if (record.sealed !== undefined) fields.push('r', record.sealed, 'd', int(record.deliveredAtMs ?? nowMs));
    const key = appKeys(this.options.prefix).webLogin(ticket);
    const created = await this.options.call(() =>
      this.scripts.wxauthCreateWebLogin(key, this.options.deadline(), String(ttl), ...fields),
    );
    if (created !== 1) throw new Error('createWebLogin: the ticket exists already');
  }

  async getWebLogin(ticket: string): Promise<WebLoginTicket | null> {
    const hash = await this.options.call(() =>
      this.redis.hgetall(appKeys(this.options.prefix).webLogin(ticket)),
    );
    return hash.s === undefined ? null : ticketOf(hash);
  }

  async advanceWebLogin(ticket: string, step: WebLoginStep, nowMs: number): Promise<WebLoginAdvance> {
    const who = step.step === 'expire' ? '' : 'openid' in step ? step.openid : step.pollHash;
    const details =
      step.step === 'confirm'
        ? [step.sid, step.match, int(step.collectUntilMs)]
        : step.step === 'seal'
          ? [step.sealed]
          : [];
    const { prefix } = this.options;
    const [kind, flat] = await this.options.call(() =>
      this.scripts.wxauthAdvanceWebLogin(
        appKeys(prefix).webLogin(ticket),
        this.options.deadline(),
        step.step,
        int(nowMs),
        who,
        appKeys(prefix).webLoginChannel,
        ticket,
        ...details,
      ),
    );
    if (kind === 'unknown' || flat === undefined) return { kind: 'unknown' };
    const hash: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) hash[flat[i]!] = flat[i + 1]!;
    return { kind: kind as 'advanced' | 'unchanged' | 'refused', ticket: ticketOf(hash) };
  }

  watchWebLogin(ticket: string, onChange: () => void): WebLoginWatch {
    return this.feed.watch(ticket, onChange);
  }

  close(): void {
    this.feed.close();
  }
}

function int(ms: number): string {
  return String(Math.floor(ms));
}

function ticketOf(hash: Record<string, string>): WebLoginTicket {
  const ticket: WebLoginTicket = {
    pollHash: hash.p ?? '',
    status: hash.s as WebLoginStatus,
    createdAtMs: Number(hash.c),
    expiresAtMs: Number(hash.e),
    address: hash.a ?? '',
    userAgent: hash.u ?? '',
    match: hash.m ?? '',
    choices: hash.h ? hash.h.split(' ') : [],
  };
  if (hash.o !== undefined) ticket.openid = hash.o;
  if (hash.i !== undefined) ticket.sid = hash.i;
  if (hash.r !== undefined) {
    ticket.sealed = hash.r;
    ticket.deliveredAtMs = Number(hash.d);
  }
  return ticket;
}

interface Watcher {
  onChange(): void;
  /** Was live once: a gap in the feed since may have hidden a change from it. */
  armed: boolean;
}

/**
 * One subscriber connection per store, to the channel of ticket changes (its own connection: a
 * subscribed one can send nothing else), made when the first watcher comes. Each subscription that
 * succeeds makes the feed live; after a gap, the watchers that were live before are told once, to read
 * their ticket again. A connection never reconnects by itself: once it ends, a new one is made, so a
 * Cluster node that is gone for good is left for another (PUBLISH reaches every node).
 */
class WebLoginFeed {
  private readonly watchers = new Map<string, Set<Watcher>>();
  private readonly subscription: Subscription;
  private live = false;
  private waiting: Array<() => void> = [];

  constructor(redis: Redis | Cluster, channel: string) {
    this.subscription = new Subscription(redis, channel, 'wxauth:web-logins', {
      message: (ticket) => {
        for (const watcher of this.watchers.get(ticket) ?? []) watcher.onChange();
      },
      subscribed: () => this.subscribed(),
      lost: () => {
        this.live = false;
      },
    });
  }

  watch(ticket: string, onChange: () => void): WebLoginWatch {
    const watcher: Watcher = { onChange, armed: this.live };
    const set = this.watchers.get(ticket) ?? new Set();
    this.watchers.set(ticket, set);
    set.add(watcher);
    this.subscription.start();
    let resolveLive: (() => void) | undefined;
    const live = this.live
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          resolveLive = resolve;
          this.waiting.push(resolve);
        });
    return {
      live,
      stop: () => {
        set.delete(watcher);
        if (set.size === 0 && this.watchers.get(ticket) === set) this.watchers.delete(ticket);
        // A watch given up while the feed is down must not pile up in `waiting`.
        if (resolveLive !== undefined) this.waiting = this.waiting.filter((waiter) => waiter !== resolveLive);
      },
    };
  }

  close(): void {
    this.subscription.close();
    this.watchers.clear();
  }

  private subscribed(): void {
    this.live = true;
    for (const resolve of this.waiting.splice(0)) resolve();
    for (const set of this.watchers.values()) {
      for (const watcher of set) {
        if (watcher.armed) watcher.onChange();
        watcher.armed = true;
      }
    }
  }
}
