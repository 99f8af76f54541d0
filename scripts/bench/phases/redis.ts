import type { RedisServer } from '../../lib/spawn.js';
import { SERVICE_CORE } from '../context.js';
import type { Row } from '../report.js';
import type { TargetName } from '../targets.js';
import { json, post } from '../traffic.js';
import { log } from '../util.js';
import type { PhaseResult, Subject } from './types.js';

export interface RedisCost {
  roundTrips: number;
  commands: number;
  sent: string[];
}

async function redisCost(redis: RedisServer, run: () => Promise<unknown>): Promise<RedisCost> {
  const before = await redis.commandCount();
  const monitor = await redis.monitor();
  await run();
  const sent = await monitor.stop();
  const commands = (await redis.commandCount()) - before;
  return { roundTrips: sent.length, commands, sent };
}

/**
 * Redis commands and round trips per operation (from MONITOR: what the service sent, script-internal
 * calls aside), with the bench's settings (no rate limits) and with the default rate limits.
 */
export async function redis({ bench, service }: Subject): Promise<PhaseResult> {
  log('Redis commands per operation');
  const { emulator } = bench;
  const costs = async (base: string) => {
    const user = emulator.createUser().openid;
    // Warm: every script loaded on the service's connection, so what is counted is the steady state.
    let s = await bench.login(base, user);
    s = await json(await post(`${base}/auth/refresh`, { refresh_token: s.refresh_token }));
    await post(`${base}/auth/logout`, { refresh_token: s.refresh_token }, s.access_token as string);
    await post(`${base}/auth/logout`, { all: true }, s.access_token as string);
    s = await bench.login(base, user);
    const token = s.access_token as string;
    const result: Record<string, RedisCost> = {};
    result.login = await redisCost(bench.redis, async () => {
      s = await json(await post(`${base}/auth/login`, { code: emulator.login(user).code }));
    });
    result.refresh = await redisCost(bench.redis, async () => {
      s = await json(await post(`${base}/auth/refresh`, { refresh_token: s.refresh_token }));
    });
    result.me = await redisCost(bench.redis, async () =>
      json(await fetch(`${base}/auth/me`, { headers: { authorization: `Bearer ${s.access_token}` } })),
    );
    const payload = emulator.encrypt(user, 'raw', { step: 1 });
    result.decrypt = await redisCost(bench.redis, async () =>
      json(await post(`${base}/wechat/decrypt`, payload, s.access_token as string)),
    );
    result.logout = await redisCost(bench.redis, async () =>
      post(`${base}/auth/logout`, { refresh_token: s.refresh_token }, s.access_token as string),
    );
    result.logoutAll = await redisCost(bench.redis, async () =>
      post(`${base}/auth/logout`, { all: true }, token),
    );
    return result;
  };
  const perOp = await costs(service.url);
  const limited = await bench.start(`${bench.dist}/server.js`, bench.env, { cores: SERVICE_CORE });
  const perOpWithLimits = await costs(limited.url);
  await limited.stop();

  const ops: [string, string, TargetName | undefined][] = [
    ['login', 'login', 'redisLogin'],
    ['refresh', 'refresh', 'redisRefresh'],
    ['me', '`/auth/me`', 'redisMe'],
    ['decrypt', '`/wechat/decrypt`', 'redisDecrypt'],
    ['logout', 'logout', undefined],
    ['logoutAll', 'logout everywhere', undefined],
  ];
  const rows: Row[] = ops.map(([key, label, target]) => {
    const cost = perOp[key]!;
    const withLimits = perOpWithLimits[key]!;
    // Login's first and second calls are the double-submit single flight (claim the code before asking
    // WeChat, share its result after); the session itself is written by the last one.
    const why = key === 'login' ? ' (claim the code, share its result, write the session)' : '';
    return {
      measure: `Redis per ${label}: round trips (commands)`,
      result: `${cost.roundTrips} (${cost.commands}): ${cost.sent.join(', ') || 'none'}${why}; with the default rate limits ${withLimits.roundTrips} (${withLimits.commands})`,
      ...(target === undefined ? {} : { target, value: cost.roundTrips }),
    };
  });
  return {
    results: { redisPerOperation: perOp, redisPerOperationWithDefaultRateLimits: perOpWithLimits },
    rows,
  };
}
