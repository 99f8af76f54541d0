import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { createAuthClient } from '../../src/client/index.js';
import { createWxShim } from '../client/wx-shim.js';
import { type Issuer, startIssuer } from '../verifier/issuer.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const run = promisify(execFile);

/** One origin in front of both, as the team's gateway: /api/* to the service, the rest to wxauth. */
function frontOf(routes: { api: () => string; wxauth: () => string }): Server {
  return createServer((req, res) => {
    const target = req.url!.startsWith('/api/') ? routes.api() : routes.wxauth();
    const upstream = request(
      `${target}${req.url}`,
      { method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
}

describe('examples/service: a Koa service protected by @wxauth/verifier, used by the mini-program client', function () {
  this.timeout(60_000);
  let issuer: Issuer;
  let service: ChildProcess;
  let serviceUrl: string;
  let front: Server;
  let baseUrl: string;

  before(async () => {
    issuer = await startIssuer();
    // Its own process, started as its README line says, knowing nothing of wxauth but the issuer.
    service = spawn(process.execPath, ['--import', 'tsx', 'examples/service/server.ts'], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        TSX_TSCONFIG_PATH: 'examples/service/tsconfig.json',
        WXAUTH_ISSUER: issuer.url,
        PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    service.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const port = await new Promise<string>((resolve, reject) => {
      let stdout = '';
      service.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        const match = /orders listening on port (\d+)/.exec(stdout);
        if (match) resolve(match[1]!);
      });
      service.once('exit', () => reject(new Error(`the example service exited:\n${stderr}`)));
    });
    serviceUrl = `http://127.0.0.1:${port}`;
    front = frontOf({ api: () => serviceUrl, wxauth: () => issuer.url });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
  });

  after(async () => {
    if (service && service.exitCode === null) {
      service.kill('SIGTERM');
      await once(service, 'exit');
    }
    front?.closeAllConnections();
    front?.close();
    await issuer?.close();
  });

  it('type-checks against the package it imports by name', async () => {
    await run(
      process.execPath,
      [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'examples/service/tsconfig.json'],
      {
        cwd: root,
      },
    ).catch((error: { stdout?: string }) => {
      throw new Error(`examples/service does not type-check:\n${error.stdout ?? ''}`);
    });
  });

  it('ships a lockfile that matches its package.json and the verifier it links', async () => {
    const read = async (path: string) => JSON.parse(await readFile(join(root, path), 'utf8'));
    const pkg = await read('examples/service/package.json');
    const lock = await read('examples/service/package-lock.json');
    const verifier = await read('packages/verifier/package.json');
    // What npm ci compares: a lockfile left behind by another package.json makes it refuse to install.
    expect(lock.name).to.equal(pkg.name);
    expect(lock.packages[''].dependencies).to.deep.equal(pkg.dependencies);
    expect(lock.packages['node_modules/@wxauth/verifier']).to.deep.equal({
      resolved: '../../packages/verifier',
      link: true,
    });
    expect(lock.packages['../../packages/verifier'].dependencies).to.deep.equal(verifier.dependencies);
    for (const [name, version] of Object.entries(pkg.dependencies as Record<string, string>)) {
      if (!version.startsWith('file:'))
        expect(lock.packages[`node_modules/${name}`]?.version, name).to.equal(version);
    }
  });

  it("serves the phone's own orders: the client logs in by itself and the service reads the openid from the token", async () => {
    const wx = createWxShim({ emulator: issuer.h.emulator });
    const auth = createAuthClient({ baseUrl, wx });
    const res = await auth.request<{ openid: string; orders: unknown[] }>({ url: '/api/orders' });
    expect(res.statusCode).to.equal(200);
    expect(res.data.openid).to.equal(wx.openid);
    expect(res.data.orders).to.have.length(1);
    expect(wx.logins()).to.equal(1);
    const [sent] = wx.requests('GET /api/orders');
    expect(sent!.authorization).to.match(/^Bearer /);
  });

  it("answers a request without a token with wxauth's 401, and a forged one too", async () => {
    const bare = await fetch(`${serviceUrl}/api/orders`);
    expect(bare.status).to.equal(401);
    expect(bare.headers.get('www-authenticate')).to.equal('Bearer realm="wxauth"');
    const forged = await fetch(`${serviceUrl}/api/orders`, { headers: { authorization: 'Bearer a.b.c' } });
    expect(forged.status).to.equal(401);
    expect(((await forged.json()) as { error: string }).error).to.equal('invalid_token');
    expect((await fetch(`${serviceUrl}/api/healthz`)).status).to.equal(200);
  });

  it('keeps serving a logged-in phone while wxauth is down: the keys are cached', async () => {
    const wx = createWxShim({ emulator: issuer.h.emulator });
    const auth = createAuthClient({ baseUrl, wx });
    await auth.login();
    await issuer.down();
    const res = await auth.request<{ openid: string }>({ url: '/api/orders' });
    expect(res.statusCode).to.equal(200);
    expect(res.data.openid).to.equal(wx.openid);
  });
});
