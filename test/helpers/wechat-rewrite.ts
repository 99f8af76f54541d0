import { once } from 'node:events';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP hop in front of the emulator that changes WeChat's answers to one path, for what the emulator
 * does not play (yet): the service under test is configured with `url` as WECHAT_API_BASE, and talks to
 * the emulator's real API through it. `target` is set once the emulator listens.
 */
export interface WechatRewrite {
  url: string;
  target: string | undefined;
  /** How the JSON answer of `path` is changed; undefined: passed through. */
  rewrite: ((path: string, body: Record<string, unknown>) => Record<string, unknown>) | undefined;
  close(): Promise<void>;
}

export async function wechatRewrite(): Promise<WechatRewrite> {
  const hop: WechatRewrite = {
    url: '',
    target: undefined,
    rewrite: undefined,
    close: async () => {
      server.close();
      server.closeAllConnections();
    },
  };
  const server = createServer((req, res) => {
    const target = new URL(req.url ?? '/', hop.target);
    const upstream = httpRequest(target, { method: req.method, headers: req.headers }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (chunk: Buffer) => chunks.push(chunk));
      answer.on('end', () => {
        let body = Buffer.concat(chunks);
        const rewrite = hop.rewrite;
        if (rewrite !== undefined) {
          try {
            const parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
            body = Buffer.from(JSON.stringify(rewrite(target.pathname, parsed)));
          } catch {
            // Not JSON (a picture): passed through.
          }
        }
        const headers = { ...answer.headers, 'content-length': String(body.length) };
        res.writeHead(answer.statusCode ?? 502, headers);
        res.end(body);
      });
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  hop.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return hop;
}
