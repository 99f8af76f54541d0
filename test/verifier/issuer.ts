import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Harness, type HarnessOptions, startHarness } from '../helpers/harness.js';

/**
 * The real wxauth on a real loopback port that stays put while the instance behind it changes (a
 * restart with another key file) or goes away (an outage): what a verifier in another service sees.
 */
export interface Issuer {
  /** PUBLIC_URL of every instance started here, so also their tokens' issuer. */
  url: string;
  /** The instance now answering. */
  h: Harness;
  /** Paths requested, in order (e.g. to count JWKS fetches). */
  requests: string[];
  /** Starts another instance (the old one is closed) and routes every request to it. */
  restart(options?: HarnessOptions): Promise<Harness>;
  /** Answers nothing any more: every connection is refused, as with the service down. */
  down(): Promise<void>;
  close(): Promise<void>;
}

export async function startIssuer(options: HarnessOptions = {}): Promise<Issuer> {
  let current: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const requests: string[] = [];
  let server: Server | undefined = createServer((req, res) => {
    requests.push(req.url ?? '');
    current!(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server!.once('error', reject);
    server!.listen(0, '127.0.0.1', resolve);
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const start = (more: HarnessOptions) =>
    startHarness({ store: 'memory', ...more, env: { PUBLIC_URL: url, ...more.env } });
  const issuer: Issuer = {
    url,
    h: await start(options),
    requests,
    async restart(more = options) {
      const next = await start(more);
      const old = issuer.h;
      issuer.h = next;
      current = next.app.callback();
      await old.close();
      return next;
    },
    async down() {
      const closing = server;
      server = undefined;
      if (!closing) return;
      closing.closeAllConnections();
      await new Promise<void>((resolve) => closing.close(() => resolve()));
    },
    async close() {
      await issuer.down();
      await issuer.h.close();
    },
  };
  current = issuer.h.app.callback();
  return issuer;
}
