import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type AuthClient, type AuthClientOptions, createAuthClient } from '../../src/client/index.js';
import { type Harness, type HarnessOptions, startHarness } from '../helpers/harness.js';
import { createWxShim, type WxShim } from './wx-shim.js';

/** The real service (harness app over the suite's redis-server and the emulator) on a real port. */
export interface LiveService {
  h: Harness;
  /** e.g. http://127.0.0.1:41234 */
  baseUrl: string;
  /** A phone: a wx shim and a client over it (the client's clock is the service's unless given). */
  phone(options?: { openid?: string; storage?: Map<string, unknown> } & Partial<AuthClientOptions>): {
    wx: WxShim;
    auth: AuthClient;
  };
  close(): Promise<void>;
}

export async function startLiveService(options: HarnessOptions = {}): Promise<LiveService> {
  const h = await startHarness(options);
  const server: Server = h.app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    h,
    baseUrl,
    phone(opts = {}) {
      const { openid, storage, ...clientOptions } = opts;
      const wx = createWxShim({
        emulator: h.emulator,
        ...(openid === undefined ? {} : { openid }),
        ...(storage === undefined ? {} : { storage }),
      });
      const auth = createAuthClient({ baseUrl, wx, clock: h.clock, ...clientOptions });
      return { wx, auth };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await h.close();
    },
  };
}
