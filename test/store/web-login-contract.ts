import { createHash, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { WebLoginStep, WebLoginStore, WebLoginTicket } from '../../src/store/index.js';
import { T0 } from './contract.js';

const TTL_MS = 120_000;
/** The confirming session's id, and the number the website shows. */
const SID = 'sAliceSession000';
const MATCH = '42';

/** A step of the phone's: a confirm by the user's session SID. */
function phoneStep(step: 'scan' | 'confirm' | 'cancel', openid: string): WebLoginStep {
  return step === 'confirm' ? { step, openid, sid: SID, match: MATCH, collectUntilMs: 0 } : { step, openid };
}

export function ticketId(): string {
  return randomBytes(16).toString('base64url');
}

export function pollHash(): string {
  return createHash('sha256').update(randomBytes(32)).digest('base64url');
}

export function newTicket(overrides: Partial<WebLoginTicket> = {}): WebLoginTicket {
  return {
    pollHash: pollHash(),
    status: 'pending',
    createdAtMs: T0,
    expiresAtMs: T0 + TTL_MS,
    address: '203.0.113.7',
    userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0.0.0 Safari/537.36',
    match: MATCH,
    choices: ['07', MATCH, '90'],
    ...overrides,
  };
}

/**
 * Starts listening to `ticket` through `store` and resolves once the watch is live (a change made from
 * then on, on any instance, reaches it), with a promise of the `count`-th change heard (rejected after
 * `ms`).
 */
export async function listen(
  store: WebLoginStore,
  ticket: string,
  count = 1,
  ms = 2000,
): Promise<{ changes: Promise<number> }> {
  let seen = 0;
  let settle: (value: number) => void = () => {};
  let fail: (error: Error) => void = () => {};
  const changes = new Promise<number>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  const watch = store.watchWebLogin(ticket, () => {
    seen += 1;
    if (seen === count) {
      watch.stop();
      settle(seen);
    }
  });
  await watch.live;
  const timer = setTimeout(() => {
    watch.stop();
    fail(new Error(`heard ${seen} of ${count} changes of ${ticket} in ${ms} ms`));
  }, ms);
  void changes.then(
    () => clearTimeout(timer),
    () => undefined,
  );
  return { changes };
}

/**
 * The WebLoginStore contract. `open` answers two views of one store: the same object twice (memory), or
 * two instances on one Redis, so that what one writes the other sees and hears.
 */
export function describeWebLoginStoreContract(
  name: string,
  open: () => Promise<{ a: WebLoginStore; b: WebLoginStore; cleanup(): Promise<void> }>,
): void {
  describe(`${name} (WebLoginStore contract)`, () => {
    let a: WebLoginStore;
    let b: WebLoginStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ a, b, cleanup } = await open());
    });
    afterEach(async () => {
      await cleanup();
    });

    it('keeps a ticket as given, and answers null for one never created', async () => {
      const id = ticketId();
      const ticket = newTicket();
      await a.createWebLogin(id, ticket, T0);
      expect(await b.getWebLogin(id)).to.deep.equal(ticket);
      expect(await b.getWebLogin(ticketId())).to.equal(null);
    });

    it('keeps a user agent of any printable characters, and an IPv6 address', async () => {
      const id = ticketId();
      const ticket = newTicket({
        address: '2001:db8::1',
        userAgent: 'Mozilla/5.0 (X11; Linux) "quoted" é 中文',
      });
      await a.createWebLogin(id, ticket, T0);
      expect(await b.getWebLogin(id)).to.deep.equal(ticket);
    });

    it('moves a ticket pending → scanned → confirmed → delivered, one step at a time, for the scanner only', async () => {
      const id = ticketId();
      const ticket = newTicket();
      await a.createWebLogin(id, ticket, T0);
      const scanned = await b.advanceWebLogin(id, { step: 'scan', openid: 'oAlice' }, T0 + 1);
      expect(scanned).to.deep.equal({
        kind: 'advanced',
        ticket: { ...ticket, status: 'scanned', openid: 'oAlice' },
      });
      expect(
        (
          await a.advanceWebLogin(
            id,
            { step: 'confirm', openid: 'oMallory', sid: SID, match: MATCH, collectUntilMs: 0 },
            T0 + 2,
          )
        ).kind,
      ).to.equal('refused');
      expect(
        (
          await a.advanceWebLogin(
            id,
            { step: 'confirm', openid: 'oAlice', sid: SID, match: MATCH, collectUntilMs: 0 },
            T0 + 2,
          )
        ).kind,
      ).to.equal('advanced');
      expect((await a.advanceWebLogin(id, { step: 'claim', pollHash: pollHash() }, T0 + 3)).kind).to.equal(
        'refused',
      );
      const claimed = await b.advanceWebLogin(id, { step: 'claim', pollHash: ticket.pollHash }, T0 + 3);
      expect(claimed).to.deep.equal({
        kind: 'advanced',
        ticket: {
          ...ticket,
          status: 'delivered',
          openid: 'oAlice',
          sid: SID,
        },
      });
      // Used once: a second claim finds it delivered.
      expect(
        (await a.advanceWebLogin(id, { step: 'claim', pollHash: ticket.pollHash }, T0 + 4)).kind,
      ).to.equal('refused');
    });

    it('answers a repeated scan by the same user unchanged, and refuses a scan by another', async () => {
      const id = ticketId();
      await a.createWebLogin(id, newTicket(), T0);
      await a.advanceWebLogin(id, { step: 'scan', openid: 'oAlice' }, T0 + 1);
      expect((await b.advanceWebLogin(id, { step: 'scan', openid: 'oAlice' }, T0 + 2)).kind).to.equal(
        'unchanged',
      );
      const other = await b.advanceWebLogin(id, { step: 'scan', openid: 'oBob' }, T0 + 2);
      expect(other.kind).to.equal('refused');
      expect(other.kind === 'refused' && other.ticket).to.include({ status: 'scanned', openid: 'oAlice' });
    });

    it("cancels the ticket when its scanner's confirm names another match, and refuses everything after", async () => {
      const id = ticketId();
      const ticket = newTicket();
      await a.createWebLogin(id, ticket, T0);
      await a.advanceWebLogin(id, { step: 'scan', openid: 'oAlice' }, T0 + 1);
      const other = { step: 'confirm', sid: SID, match: '07', collectUntilMs: 0 } as const;
      expect((await b.advanceWebLogin(id, { ...other, openid: 'oBob' }, T0 + 2)).kind).to.equal('refused');
      const wrong = await b.advanceWebLogin(id, { ...other, openid: 'oAlice' }, T0 + 2);
      expect(wrong).to.deep.equal({
        kind: 'advanced',
        ticket: { ...ticket, status: 'canceled', openid: 'oAlice' },
      });
      for (const step of ['scan', 'confirm', 'cancel'] as const) {
        expect((await a.advanceWebLogin(id, phoneStep(step, 'oAlice'), T0 + 3)).kind).to.equal('refused');
      }
    });

    it('refuses to confirm or cancel a ticket nobody scanned, and anything after a cancel', async () => {
      const id = ticketId();
      await a.createWebLogin(id, newTicket(), T0);
      for (const step of ['confirm', 'cancel'] as const) {
        expect((await a.advanceWebLogin(id, phoneStep(step, 'oAlice'), T0 + 1)).kind).to.equal('refused');
      }
      await a.advanceWebLogin(id, { step: 'scan', openid: 'oAlice' }, T0 + 1);
      expect((await b.advanceWebLogin(id, { step: 'cancel', openid: 'oBob' }, T0 + 2)).kind).to.equal(
        'refused',
      );
      expect((await b.advanceWebLogin(id, { step: 'cancel', openid: 'oAlice' }, T0 + 2)).kind).to.equal(
        'advanced',
      );
      for (const step of ['scan', 'confirm', 'cancel'] as const) {
        const after = await a.advanceWebLogin(id, phoneStep(step, 'oAlice'), T0 + 3);
        expect(after.kind).to.equal('refused');
        expect(after.kind === 'refused' && after.ticket.status).to.equal('canceled');
      }
    });

    it('cancels a claimed ticket on a drop by its poll token (the confirming session ended), and for good', async () => {
      const id = ticketId();
      const ticket = newTicket();
      await a.createWebLogin(id, ticket, T0);
      await a.advanceWebLogin(id, { step: 'scan', openid: 'oAlice' }, T0 + 1);
      await a.advanceWebLogin(id, phoneStep('confirm', 'oAlice'), T0 + 1);
      expect(
        (await a.advanceWebLogin(id, { step: 'drop', pollHash: ticket.pollHash }, T0 + 2)).kind,
      ).to.equal('refused');
      await a.advanceWebLogin(id, { step: 'claim', pollHash: ticket.pollHash }, T0 + 2);
      expect((await b.advanceWebLogin(id, { step: 'drop', pollHash: pollHash() }, T0 + 2)).kind).to.equal(
        'refused',
      );
      const dropped = await b.advanceWebLogin(id, { step: 'drop', pollHash: ticket.pollHash }, T0 + 2);
      expect(dropped.kind === 'advanced' && dropped.ticket.status).to.equal('canceled');
      for (const step of ['claim', 'release'] as const) {
        expect((await a.advanceWebLogin(id, { step, pollHash: ticket.pollHash }, T0 + 3)).kind).to.equal(
          'refused',
        );
      }
    });

    it('keeps the sealed answer of a claim once, with when, and then neither releases nor drops it', async () => {
      const id = ticketId();
      const ticket = newTicket();
      await a.createWebLogin(id, ticket, T0);
      await a.advanceWebLogin(id, { step: 'scan', openid: 'oAlice' }, T0 + 1);
      await a.advanceWebLogin(id, phoneStep('confirm', 'oAlice'), T0 + 1);
      const seal = { step: 'seal', pollHash: ticket.pollHash, sealed: 'c2VhbGVk' } as const;
      expect((await b.advanceWebLogin(id, seal, T0 + 2)).kind).to.equal('refused');
      await a.advanceWebLogin(id, { step: 'claim', pollHash: ticket.pollHash }, T0 + 2);
      expect((await b.advanceWebLogin(id, { ...seal, pollHash: pollHash() }, T0 + 3)).kind).to.equal(
        'refused',
      );
      const sealed = await b.advanceWebLogin(id, seal, T0 + 3);
      const kept = {
        ...ticket,
        status: 'delivered',
        openid: 'oAlice',
        sid: SID,
        sealed: 'c2VhbGVk',
        deliveredAtMs: T0 + 3,
      };
      expect(sealed).to.deep.equal({ kind: 'advanced', ticket: kept });
      expect(await a.getWebLogin(id)).to.deep.equal(kept);
      for (const step of ['seal', 'release', 'drop'] as const) {
        const late = await a.advanceWebLogin(id, { ...seal, step }, T0 + 4);
        expect(late.kind, step).to.equal('refused');
      }
    });

    it('moves the expiry of a confirmed ticket to collectUntilMs when later, and keeps it otherwise', async () => {
      const [early, late] = [ticketId(), ticketId()];
      const ticket = newTicket();
      for (const id of [early, late]) {
        await a.createWebLogin(id, { ...ticket, pollHash: pollHash() }, T0);
        await a.advanceWebLogin(id, { step: 'scan', openid: 'oAlice' }, T0 + 1);
      }
      const confirm = { ...phoneStep('confirm', 'oAlice'), collectUntilMs: T0 + 30_000 } as WebLoginStep;
      await a.advanceWebLogin(early, confirm, T0 + 2);
      expect((await b.getWebLogin(early))!.expiresAtMs).to.equal(ticket.expiresAtMs);
      const lastSecond = ticket.expiresAtMs - 1;
      await a.advanceWebLogin(
        late,
        { ...confirm, collectUntilMs: lastSecond + 30_000 } as WebLoginStep,
        lastSecond,
      );
      expect((await b.getWebLogin(late))!.expiresAtMs).to.equal(lastSecond + 30_000);
      const claim = await b.advanceWebLogin(
        late,
        { step: 'claim', pollHash: (await b.getWebLogin(late))!.pollHash },
        lastSecond + 29_000,
      );
      expect(claim.kind).to.equal('advanced');
    });

    it('releases a claim (the session could not be opened) so that the next poll claims it again', async () => {
      const id = ticketId();
      const ticket = newTicket();
      await a.createWebLogin(id, ticket, T0);
      await a.advanceWebLogin(id, { step: 'scan', openid: 'oAlice' }, T0 + 1);
      await a.advanceWebLogin(
        id,
        { step: 'confirm', openid: 'oAlice', sid: SID, match: MATCH, collectUntilMs: 0 },
        T0 + 1,
      );
      await a.advanceWebLogin(id, { step: 'claim', pollHash: ticket.pollHash }, T0 + 2);
      expect((await b.advanceWebLogin(id, { step: 'release', pollHash: pollHash() }, T0 + 2)).kind).to.equal(
        'refused',
      );
      expect(
        (await b.advanceWebLogin(id, { step: 'release', pollHash: ticket.pollHash }, T0 + 2)).kind,
      ).to.equal('advanced');
      expect((await a.getWebLogin(id))!.status).to.equal('confirmed');
      expect(
        (await a.advanceWebLogin(id, { step: 'claim', pollHash: ticket.pollHash }, T0 + 3)).kind,
      ).to.equal('advanced');
    });

    it('refuses every step at and after the expiry, by the caller clock, and marks it expired once', async () => {
      const id = ticketId();
      const ticket = newTicket();
      await a.createWebLogin(id, ticket, T0);
      await a.advanceWebLogin(id, { step: 'scan', openid: 'oAlice' }, T0 + 1);
      expect((await a.advanceWebLogin(id, { step: 'expire' }, T0 + TTL_MS - 1)).kind).to.equal('refused');
      for (const step of ['scan', 'confirm', 'cancel'] as const) {
        const late = await b.advanceWebLogin(id, phoneStep(step, 'oAlice'), ticket.expiresAtMs);
        expect(late.kind).to.equal('refused');
      }
      const expired = await b.advanceWebLogin(id, { step: 'expire' }, ticket.expiresAtMs);
      expect(expired).to.deep.equal({
        kind: 'advanced',
        ticket: { ...ticket, status: 'expired', openid: 'oAlice' },
      });
      expect((await a.advanceWebLogin(id, { step: 'expire' }, ticket.expiresAtMs + 1)).kind).to.equal(
        'unchanged',
      );
    });

    it('refuses a claim past the expiry even when confirmed', async () => {
      const id = ticketId();
      const ticket = newTicket();
      await a.createWebLogin(id, ticket, T0);
      await a.advanceWebLogin(id, { step: 'scan', openid: 'oAlice' }, T0 + 1);
      await a.advanceWebLogin(
        id,
        { step: 'confirm', openid: 'oAlice', sid: SID, match: MATCH, collectUntilMs: 0 },
        T0 + 1,
      );
      const late = await a.advanceWebLogin(
        id,
        { step: 'claim', pollHash: ticket.pollHash },
        ticket.expiresAtMs,
      );
      expect(late.kind).to.equal('refused');
    });

    it('answers unknown for a step on a ticket never created', async () => {
      for (const step of [
        { step: 'scan', openid: 'oAlice' },
        { step: 'claim', pollHash: pollHash() },
        { step: 'expire' },
      ] as const) {
        expect(await a.advanceWebLogin(ticketId(), step, T0)).to.deep.equal({ kind: 'unknown' });
      }
    });

    it('tells watchers on every instance of each change, and nothing of changes that were refused', async () => {
      const id = ticketId();
      const ticket = newTicket();
      await a.createWebLogin(id, ticket, T0);
      const onB = await listen(b, id);
      await a.advanceWebLogin(id, { step: 'scan', openid: 'oAlice' }, T0 + 1);
      await onB.changes;
      let changes = 0;
      const watch = b.watchWebLogin(id, () => {
        changes += 1;
      });
      await watch.live;
      const onA = await listen(a, id);
      await a.advanceWebLogin(
        id,
        { step: 'confirm', openid: 'oBob', sid: SID, match: MATCH, collectUntilMs: 0 },
        T0 + 2,
      );
      await a.advanceWebLogin(id, { step: 'scan', openid: 'oAlice' }, T0 + 2);
      await b.advanceWebLogin(
        id,
        { step: 'confirm', openid: 'oAlice', sid: SID, match: MATCH, collectUntilMs: 0 },
        T0 + 2,
      );
      await onA.changes;
      await new Promise((resolve) => setTimeout(resolve, 100));
      watch.stop();
      expect(changes).to.equal(1);
    });

    it('stops telling a watcher once it stopped watching', async () => {
      const id = ticketId();
      await a.createWebLogin(id, newTicket(), T0);
      let changes = 0;
      const watch = b.watchWebLogin(id, () => {
        changes += 1;
      });
      await watch.live;
      watch.stop();
      const other = await listen(b, id);
      await a.advanceWebLogin(id, { step: 'scan', openid: 'oAlice' }, T0 + 1);
      await other.changes;
      expect(changes).to.equal(0);
    });
  });
}
