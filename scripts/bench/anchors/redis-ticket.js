/**
 * Anchor: the design wxauth replaces, an opaque ticket looked up in Redis on every request (the
 * Spring/Django/Express session tutorials), on Koa 3 and ioredis. At start it stores TICKETS tickets
 * and prints them as one JSON line for the bench to present. Plain JavaScript, run by node alone as
 * the compiled service is.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import Koa from 'koa';

const redis = new Redis(process.env.REDIS_URL);
const tickets = Array.from({ length: Number(process.env.TICKETS ?? 200) }, () =>
  randomBytes(32).toString('base64url'),
);
const exp = Math.floor(Date.now() / 1000) + 900;
await Promise.all(
  tickets.map((ticket, i) =>
    redis.set(
      `ticket:${ticket}`,
      JSON.stringify({ openid: `oTicketAnchor${String(i).padStart(15, '0')}`, exp }),
      'EX',
      900,
    ),
  ),
);

const app = new Koa();
app.use(async (ctx) => {
  const header = ctx.get('Authorization');
  const raw = header.startsWith('Bearer ') ? await redis.get(`ticket:${header.slice(7)}`) : null;
  if (raw === null) {
    ctx.status = 401;
    ctx.body = { error: 'invalid_token' };
    return;
  }
  const session = JSON.parse(raw);
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { openid: session.openid, exp: session.exp };
});
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ tickets, port: server.address().port })}\n`);
});
process.on('SIGTERM', () => {
  redis.disconnect();
  process.exit(0);
});
