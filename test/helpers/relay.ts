import {
  type AddressInfo,
  connect as connectTcp,
  createServer as createNetServer,
  type Socket,
} from 'node:net';

/** A TCP relay in front of a test's Redis, which a test uses to cut one instance off from it. */
export interface Relay {
  /** redis://127.0.0.1:<the relay's port> */
  url: string;
  /**
   * Holds back what Redis answers, as a stall that begins just after Redis ran a command does: the
   * command took effect, its caller never hears so.
   */
  hold(): void;
  /** Sends what hold() held back, and everything after it. */
  release(): void;
  /** Drops every connection through the relay and refuses new ones, as an unreachable Redis. */
  cut(): void;
  /** Takes connections again after cut(). */
  mend(): void;
  close(): void;
}

/** A relay to the Redis on `port`, passing everything through; `cut` starts it cut off. */
export async function relay(port: number, options: { cut?: boolean } = {}): Promise<Relay> {
  let holding = false;
  let cut = options.cut ?? false;
  const held: Array<() => void> = [];
  const sockets = new Set<Socket>();
  const server = createNetServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = connectTcp(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
      if (holding) held.push(() => client.write(chunk));
      else client.write(chunk);
    });
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      a.on('error', () => b.destroy());
      a.on('close', () => {
        sockets.delete(a);
        b.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dropAll = () => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    url: `redis://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hold: () => {
      holding = true;
    },
    release: () => {
      holding = false;
      for (const send of held.splice(0)) send();
    },
    cut: () => {
      cut = true;
      dropAll();
    },
    mend: () => {
      cut = false;
    },
    close: () => {
      dropAll();
      server.close();
    },
  };
}
