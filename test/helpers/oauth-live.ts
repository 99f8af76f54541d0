import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Harness, startHarness } from './harness.js';

/**
 * wxauth on a real port, for relying parties that speak HTTP to it (a browser, openid-client), beside a
 * relying party's own site on another port (another origin: its calls to the token endpoint are CORS).
 * The service's PUBLIC_URL is its real address, WeChat's pages are the emulator's, and the official
 * account and the website have the site's `/callback` as their redirect URI, and `/app/callback` of the
 * service's own origin too: paths under `/app/` are the site's there (a website that serves wxauth under
 * its own origin, as the browser SDK's web login wants).
 */
export interface LiveOAuth {
  h: Harness;
  /** The service's URL (PUBLIC_URL, the issuer). */
  url: string;
  /** The relying party's origin. */
  site: string;
  /** `${site}/callback`: both browser apps' redirect URI. */
  redirectUri: string;
  /** `${url}/app/callback`: the same, under the service's origin. */
  sameOriginRedirectUri: string;
  officialAccount: string;
  website: string;
  miniprogram: string;
  /** What the site answers: set by the test (default: a blank page). */
  serveSite(handler: (req: IncomingMessage, res: ServerResponse) => void): void;
  close(): Promise<void>;
}

async function listening(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** `sitePaths`: more redirect URIs of both browser apps, as paths of the site (a library's own callback). */
export async function startLiveOAuth(sitePaths: string[] = []): Promise<LiveOAuth> {
  const service = createServer();
  const siteServer = createServer();
  const url = await listening(service);
  const site = await listening(siteServer);
  const redirectUri = `${site}/callback`;
  const sameOriginRedirectUri = `${url}/app/callback`;
  const redirectUris = [redirectUri, sameOriginRedirectUri, ...sitePaths.map((path) => `${site}${path}`)];
  const h = await startHarness({
    apps: [
      { kind: 'miniprogram', name: 'Shop mini-program' },
      { kind: 'official_account', name: 'Pages', redirect_uris: redirectUris },
      { kind: 'website', name: 'Shop', redirect_uris: redirectUris },
    ],
    env: { PUBLIC_URL: url },
  });
  const wxauth = h.app.callback();
  service.on('request', (req, res) => {
    if (req.url?.startsWith('/app/')) handler(req, res);
    else void wxauth(req, res);
  });
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>site</title>');
  };
  siteServer.on('request', (req, res) => handler(req, res));
  const appidOf = (kind: string) => h.emulator.apps.find((a) => a.kind === kind)!.appid;
  return {
    h,
    url,
    site,
    redirectUri,
    sameOriginRedirectUri,
    officialAccount: appidOf('official_account'),
    website: appidOf('website'),
    miniprogram: appidOf('miniprogram'),
    serveSite(next) {
      handler = next;
    },
    async close() {
      for (const server of [service, siteServer]) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
      await h.close();
    },
  };
}
