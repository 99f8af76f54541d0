/**
 * Anchor: a bare Koa 3 app, what any route costs before it does anything. Plain JavaScript, run by
 * node alone as the compiled service is, so that no loader stands between the two.
 */
import Koa from 'koa';

const app = new Koa();
app.use((ctx) => {
  ctx.body = { openid: 'oBareKoaAnchor000000000000001', exp: 1_900_000_000 };
});
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`bare koa listening on ${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
