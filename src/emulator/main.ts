/**
 * The WeChat emulator on its own (npm run emulator; docs/wechat-emulator.md): WeChat's server API for
 * wxauth run with real parts (Redis, keys, NODE_ENV=production) but no real mini-program, or for any
 * other service that calls that API. It prints the settings that point a service at it.
 *   EMULATOR_PORT (default 0: any free port), EMULATOR_HOST (default 127.0.0.1),
 *   EMULATOR_APPID and EMULATOR_SECRET (default: new ones on every start).
 * Development only: it lets anyone log in as anyone (POST /__emulator/login gives a code for any user).
 */
import { createEmulator, type Emulator } from './index.js';

function fail(message: string): never {
  process.stderr.write(`emulator: ${message}\n`);
  process.exit(1);
}

const env = process.env;
const port = Number(env.EMULATOR_PORT || '0');
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  fail(`EMULATOR_PORT must be a port number (0 to 65535, 0: any free one), not "${env.EMULATOR_PORT}"`);
}
// Loopback unless asked: whoever reaches it can log in to the services pointed at it as anyone.
const host = env.EMULATOR_HOST || '127.0.0.1';

let emulator: Emulator;
try {
  emulator = createEmulator({
    ...(env.EMULATOR_APPID ? { appid: env.EMULATOR_APPID } : {}),
    ...(env.EMULATOR_SECRET ? { secret: env.EMULATOR_SECRET } : {}),
  });
} catch (error) {
  fail(`EMULATOR_APPID and EMULATOR_SECRET: ${(error as Error).message}`);
}
const url = await emulator
  .listen(port, host)
  .catch((error: NodeJS.ErrnoException) =>
    fail(
      `cannot listen on ${host}:${port} (${error.code ?? error.message}): set EMULATOR_PORT or EMULATOR_HOST`,
    ),
  );

// The AppSecret is printed on purpose: it is this emulator's own, made up at start, and guards nothing
// but the emulator; pointing a service at it takes all three lines.
process.stdout.write(`WeChat API emulator listening on ${url} (development only: anyone can log in as anyone).

Point wxauth at it (or any service that calls WeChat's server API): these lines in its environment or .env

WECHAT_API_BASE=${url}
WECHAT_APPID=${emulator.appid}
WECHAT_SECRET=${emulator.secret}

A code as wx.login() gives one, for wxauth's POST /auth/login (a new user; {"openid":"…"} for a known one):
curl -s -X POST ${url}/__emulator/login
`);

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  emulator.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
