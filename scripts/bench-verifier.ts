/**
 * npx tsx scripts/bench-verifier.ts [--tokens N]
 * Prints what verifying an access token costs in @wxauth/verifier next to wxauth's own: a signature
 * check, and the cached path a service takes for a token it verified before (each presentation a new
 * copy of the token, as every request brings one). wxauth runs in this process on a loopback port, as
 * the JWKS source; nothing is measured over the network.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { authenticate, createVerifier } from '../packages/verifier/src/index.js';
import { loadConfig } from '../src/config/index.js';
import { buildDeps } from '../src/deps.js';
import { createApp } from '../src/http/index.js';
import { createLogger, systemClock } from '../src/lib/index.js';
import { createAccessTokens } from '../src/tokens/index.js';

const countIndex = process.argv.indexOf('--tokens');
const COUNT = countIndex > 0 ? Number(process.argv[countIndex + 1]) : 2000;

const server = createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const config = loadConfig({ PUBLIC_URL: url, LOG_LEVEL: 'silent' });
const deps = await buildDeps(config, { logger: createLogger({ level: 'silent' }) });
server.on('request', createApp(config, deps).callback());

const options = {
  keys: deps.keys,
  clock: systemClock,
  issuer: config.tokens.issuer,
  audience: config.tokens.audience,
  clientId: deps.apps.legacy.appid,
  ttlS: 900,
  clockToleranceS: 0,
};
const minter = createAccessTokens(options);
const tokens: string[] = [];
for (let i = 0; i < COUNT; i += 1) tokens.push((await minter.issue(`oBench${i}`, `family${i}`)).token);

/** µs per call, each call given a new copy of a token (a request's header is a new string each time). */
async function perToken(check: (token: string) => unknown, rounds: number): Promise<number> {
  const copies = Array.from({ length: rounds }, () => tokens.map((t) => ` ${t}`.slice(1))).flat();
  const started = performance.now();
  for (const token of copies) {
    const result = check(token);
    if (result instanceof Promise) await result;
  }
  return ((performance.now() - started) * 1000) / copies.length;
}

const service = createAccessTokens(options);
const serviceUncached = createAccessTokens({ ...options, cacheSize: 0 });
const verifier = createVerifier({ issuer: url, audience: config.tokens.audience });
const verifierUncached = createVerifier({ issuer: url, audience: config.tokens.audience, cacheSize: 0 });
await verifier.ready();
await verifierUncached.ready();
for (const token of tokens) {
  await service.verify(token);
  await verifier.verify(token);
}
const failed = (what: string) => () => {
  throw new Error(`${what} missed a cached token`);
};
// Warm-up, then the measures.
await perToken((t) => service.recall(t) ?? failed('wxauth')(), 10);
await perToken((t) => verifier.recall(t) ?? failed('verifier')(), 10);
const rows = [
  [
    'signature check (no cache)',
    await perToken((t) => serviceUncached.verify(t), 1),
    await perToken((t) => verifierUncached.verify(t), 1),
  ],
  [
    'recall of a verified token',
    await perToken((t) => service.recall(t) ?? failed('wxauth')(), 50),
    await perToken((t) => verifier.recall(t) ?? failed('verifier')(), 50),
  ],
  [
    'verify() of a verified token',
    await perToken((t) => service.verify(t), 20),
    await perToken((t) => verifier.verify(t), 20),
  ],
  [
    'the middleware\'s path ("Bearer <token>")',
    Number.NaN,
    await perToken((t) => authenticate(verifier, `Bearer ${t}`), 20),
  ],
] as const;

const us = (value: number) =>
  Number.isNaN(value) ? '—' : `${value < 10 ? value.toFixed(2) : value.toFixed(1)} µs`;
process.stdout.write(
  [
    `Access-token verification, ${COUNT} tokens (${deps.keys.signing.alg}), Node ${process.version}:`,
    '',
    '| per token | wxauth (its own) | @wxauth/verifier |',
    '| --- | --- | --- |',
    ...rows.map(([what, own, package_]) => `| ${what} | ${us(own)} | ${us(package_)} |`),
    '',
  ].join('\n'),
);

server.closeAllConnections();
server.close();
await deps.close();
