/**
 * The WeChat emulator on its own (npm run emulator; docs/wechat-emulator.md): WeChat's server API for
 * wxauth run with real parts (Redis, keys, NODE_ENV=production) but no real mini-program, or for any
 * other service that calls that API. It prints the settings that point a service at it.
 *   EMULATOR_PORT (default 0: any free port), EMULATOR_HOST (default 127.0.0.1),
 *   EMULATOR_APPID and EMULATOR_SECRET (default: new ones on every start), or
 *   EMULATOR_APPS_FILE: wxauth's apps file (WECHAT_APPS_FILE), whose apps it then serves.
 * Development only: it lets anyone log in as anyone (POST /__emulator/login gives a code for any user).
 */
import { readFileSync } from 'node:fs';
import type { AppKind } from '../config/apps.js';
import { createEmulator, type EmulatedAppOptions, type Emulator, type EmulatorOptions } from './index.js';

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

/** wxauth's setting for the secret of an app its apps file lists without one. */
function secretSetting(appid: string): string {
  return `WECHAT_SECRET_${appid.toUpperCase()}`;
}

/**
 * The apps of wxauth's apps file ({"apps": [{appid, kind, secret?, name?, …}]}): the fields wxauth alone
 * uses (audience, claims, redirect_uris) are its business and left to its own check. A secret the file
 * leaves out is read from WECHAT_SECRET_<APPID> as wxauth reads it, else made up (and printed).
 */
function appsOfFile(path: string): { apps: EmulatedAppOptions[]; madeUp: Set<string> } {
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // JSON.parse's message may quote the text, and the text may hold secrets.
    fail(`EMULATOR_APPS_FILE ${path}: ${code ? `cannot read it (${code})` : 'not JSON'}`);
  }
  const list = (document as { apps?: unknown } | null)?.apps;
  if (!Array.isArray(list)) fail(`EMULATOR_APPS_FILE ${path}: expected {"apps": [...]}, as WECHAT_APPS_FILE`);
  const madeUp = new Set<string>();
  const apps = list.map((entry: Record<string, unknown> | null, index): EmulatedAppOptions => {
    const appid = entry?.appid;
    if (typeof appid !== 'string') fail(`EMULATOR_APPS_FILE ${path}: apps[${index}] has no appid`);
    const secret = typeof entry?.secret === 'string' ? entry.secret : env[secretSetting(appid)]?.trim();
    if (!secret) madeUp.add(appid);
    return {
      appid,
      kind: entry?.kind as AppKind,
      ...(secret ? { secret } : {}),
      ...(typeof entry?.name === 'string' ? { name: entry.name } : {}),
    };
  });
  return { apps, madeUp };
}

const appsFile = env.EMULATOR_APPS_FILE;
if (appsFile && (env.EMULATOR_APPID || env.EMULATOR_SECRET)) {
  fail('EMULATOR_APPS_FILE lists the apps with their appids: unset EMULATOR_APPID and EMULATOR_SECRET');
}
const fromFile = appsFile ? appsOfFile(appsFile) : undefined;
const options: EmulatorOptions = fromFile
  ? { apps: fromFile.apps }
  : {
      ...(env.EMULATOR_APPID ? { appid: env.EMULATOR_APPID } : {}),
      ...(env.EMULATOR_SECRET ? { secret: env.EMULATOR_SECRET } : {}),
    };

let emulator: Emulator;
try {
  emulator = createEmulator(options);
} catch (error) {
  fail(
    `${appsFile ? `EMULATOR_APPS_FILE ${appsFile}` : 'EMULATOR_APPID and EMULATOR_SECRET'}: ${(error as Error).message}`,
  );
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
if (fromFile) {
  // Only the secrets made up here: those of the file or the environment the service has already.
  const secrets = emulator.apps
    .filter((app) => fromFile.madeUp.has(app.appid))
    .map((app) => `${secretSetting(app.appid)}=${app.secret}\n`)
    .join('');
  const listing = emulator.apps
    .map((app) => `  ${app.appid}  ${app.kind.padEnd(16)}  ${app.name}\n`)
    .join('');
  process.stdout.write(`WeChat API emulator listening on ${url} (development only: anyone can log in as anyone).

It serves the apps of ${appsFile}, as one open-platform account (a person has an openid in each app and
the same unionid in all):
${listing}
Point wxauth at it (with WECHAT_APPS_FILE=${appsFile}): these lines in its environment or .env

WECHAT_API_BASE=${url}
${secrets}
A code for logging in to an app (a new user; "openid":"…" for a known one; without appid, the first app):
curl -s -X POST ${url}/__emulator/login -d '{"appid":"${emulator.appid}"}'
`);
} else {
  process.stdout.write(`WeChat API emulator listening on ${url} (development only: anyone can log in as anyone).

Point wxauth at it (or any service that calls WeChat's server API): these lines in its environment or .env

WECHAT_API_BASE=${url}
WECHAT_APPID=${emulator.appid}
WECHAT_SECRET=${emulator.secret}

A code as wx.login() gives one, for wxauth's POST /auth/login (a new user; {"openid":"…"} for a known one):
curl -s -X POST ${url}/__emulator/login
`);
}

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
