import { APP_KINDS, type AppKind } from '../config/apps.js';
import { CODE_PATTERN, systemClock } from '../lib/index.js';
import { CallCounter, createControl } from './control.js';
import { FaultQueue } from './faults.js';
import { newAppid, newSecret } from './ids.js';
import { createEmulatorServer } from './server.js';
import { EmulatorState } from './state.js';
import type { EmulatedApp, EmulatedAppOptions, Emulator, EmulatorOptions } from './types.js';

export type {
  AppChoice,
  AuthorizeDecision,
  AuthorizeOptions,
  CreateUserOptions,
  DrawnWxacode,
  EmulatedApi,
  EmulatedApp,
  EmulatedAppOptions,
  EmulatedUser,
  Emulator,
  EmulatorControl,
  EmulatorOptions,
  EncryptedPayload,
  EncryptKind,
  Fault,
  FaultMode,
  LoginOptions,
} from './types.js';

const CREDENTIAL = CODE_PATTERN;
const DEFAULT_PAGES = ['pages/index/index', 'pages/qr-login/index'];
const MAX_APPS = 100;

/**
 * The apps wxauth's zero-config mode serves, bound to one open-platform account: two mini-programs, a
 * mobile app, an official account and a website, with new random appids and secrets on each call.
 */
export function zeroConfigApps(): EmulatedAppOptions[] {
  return ZERO_CONFIG_APPS.map((app) => ({ appid: newAppid(), secret: newSecret(), ...app }));
}

const ZERO_CONFIG_APPS: readonly { kind: AppKind; name: string }[] = [
  { kind: 'miniprogram', name: 'Shop mini-program' },
  { kind: 'miniprogram', name: 'Service mini-program' },
  { kind: 'mobile', name: 'Mobile app' },
  { kind: 'official_account', name: 'Official account' },
  { kind: 'website', name: 'Website' },
];

/** The apps the options describe, checked: TypeError for what cannot be meant. */
function resolveApps(options: EmulatorOptions): EmulatedApp[] {
  if (options.apps === undefined) {
    const appid = options.appid ?? newAppid();
    const secret = options.secret ?? newSecret();
    if (!CREDENTIAL.test(appid) || !CREDENTIAL.test(secret)) {
      throw new TypeError('appid and secret must be 1 to 128 printable ASCII characters.');
    }
    return [{ appid, secret, kind: 'miniprogram', name: appid }];
  }
  // Which app would the lone appid be, and would it replace the first app's?
  if (options.appid !== undefined || options.secret !== undefined) {
    throw new TypeError('Give appid and secret inside apps, not beside it.');
  }
  if (!Array.isArray(options.apps) || options.apps.length === 0 || options.apps.length > MAX_APPS) {
    throw new TypeError(`apps must be a list of 1 to ${MAX_APPS} apps.`);
  }
  const seen = new Set<string>();
  return options.apps.map((given, index) => {
    const appid = given.appid ?? newAppid();
    const secret = given.secret ?? newSecret();
    if (!CREDENTIAL.test(appid) || !CREDENTIAL.test(secret)) {
      throw new TypeError(`apps[${index}]: appid and secret must be 1 to 128 printable ASCII characters.`);
    }
    if (!APP_KINDS.includes(given.kind)) {
      throw new TypeError(`apps[${index}]: kind must be one of ${APP_KINDS.join(', ')}.`);
    }
    if (given.name !== undefined && (typeof given.name !== 'string' || given.name.trim() === '')) {
      throw new TypeError(`apps[${index}]: name must be a non-empty string.`);
    }
    if (seen.has(appid)) throw new TypeError(`apps[${index}]: appid ${appid} is there twice.`);
    seen.add(appid);
    return Object.freeze({ appid, secret, kind: given.kind, name: given.name ?? appid });
  });
}

/**
 * A WeChat server API on a local port (jscode2session, stable_token, token, getuserphonenumber,
 * checksession, getwxacodeunlimit, and sns/oauth2/access_token and sns/userinfo for apps other than
 * mini-programs), answering as WeChat does for the apps of one open-platform account; WeChat's browser
 * login pages (connect/oauth2/authorize, connect/qrconnect) for official accounts and websites; and a
 * control surface under /__emulator/ to play the phone's part (a scan finds the codes drawn) and to arm
 * faults.
 * Unknown paths answer HTTP 404 with `{"errcode":-1,…}`.
 */
export function createEmulator(options: EmulatorOptions = {}): Emulator {
  const apps = Object.freeze(resolveApps(options));
  const { appid, secret } = apps[0]!;
  const codeTtlMs = options.codeTtlMs ?? 300_000;
  const accessTokenTtlS = options.accessTokenTtlS ?? 7200;
  if (!Number.isSafeInteger(codeTtlMs) || codeTtlMs <= 0)
    throw new RangeError('codeTtlMs must be a positive integer.');
  if (!Number.isSafeInteger(accessTokenTtlS) || accessTokenTtlS <= 0) {
    throw new RangeError('accessTokenTtlS must be a positive integer.');
  }

  const state = new EmulatorState({
    clock: options.clock ?? systemClock,
    apps,
    codeTtlMs,
    accessTokenTtlS,
    pages: [...(options.pages ?? DEFAULT_PAGES)],
  });
  const faults = new FaultQueue((id) => state.findApp(id) !== undefined);
  const counter = new CallCounter();
  const control = createControl(state, faults, counter);
  const server = createEmulatorServer({ state, faults, counter, control });

  return {
    ...control,
    appid,
    secret,
    get url() {
      const url = server.url;
      if (url === undefined) throw new Error('The emulator has no URL before listen() resolved.');
      return url;
    },
    listen: (port = 0, host = '127.0.0.1') => server.listen(port, host),
    close: () => server.close(),
  };
}
