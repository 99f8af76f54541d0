import { CODE_PATTERN, systemClock } from '../lib/index.js';
import { CallCounter, createControl } from './control.js';
import { FaultQueue } from './faults.js';
import { newAppid, newSecret } from './ids.js';
import { createEmulatorServer } from './server.js';
import { EmulatorState } from './state.js';
import type { Emulator, EmulatorOptions } from './types.js';

export type {
  CreateUserOptions,
  DrawnWxacode,
  EmulatedApi,
  EmulatedUser,
  Emulator,
  EmulatorControl,
  EmulatorOptions,
  EncryptedPayload,
  EncryptKind,
  Fault,
  FaultMode,
} from './types.js';

const CREDENTIAL = CODE_PATTERN;
const DEFAULT_PAGES = ['pages/index/index', 'pages/qr-login/index'];

/**
 * A WeChat server API on a local port (jscode2session, stable_token, token, getuserphonenumber,
 * checksession, getwxacodeunlimit), answering as WeChat does, plus a control surface under /__emulator/
 * to play the phone's part (a scan finds the codes drawn) and to arm faults. Unknown paths answer HTTP 404 with `{"errcode":-1,…}`.
 */
export function createEmulator(options: EmulatorOptions = {}): Emulator {
  const appid = options.appid ?? newAppid();
  const secret = options.secret ?? newSecret();
  if (!CREDENTIAL.test(appid) || !CREDENTIAL.test(secret)) {
    throw new TypeError('appid and secret must be 1 to 128 printable ASCII characters.');
  }
  const codeTtlMs = options.codeTtlMs ?? 300_000;
  const accessTokenTtlS = options.accessTokenTtlS ?? 7200;
  if (!Number.isSafeInteger(codeTtlMs) || codeTtlMs <= 0)
    throw new RangeError('codeTtlMs must be a positive integer.');
  if (!Number.isSafeInteger(accessTokenTtlS) || accessTokenTtlS <= 0) {
    throw new RangeError('accessTokenTtlS must be a positive integer.');
  }

  const state = new EmulatorState({
    clock: options.clock ?? systemClock,
    appid,
    secret,
    codeTtlMs,
    accessTokenTtlS,
    pages: [...(options.pages ?? DEFAULT_PAGES)],
  });
  const faults = new FaultQueue();
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
