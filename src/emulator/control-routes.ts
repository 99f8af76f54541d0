import { onlyKeys } from './input.js';
import type {
  AuthorizeOptions,
  CreateUserOptions,
  EmulatorControl,
  EncryptKind,
  Fault,
  LoginOptions,
} from './types.js';
import { EMULATED_APIS, SNS_OAUTH_APIS } from './types.js';

export interface ControlAnswer {
  status: number;
  body?: unknown;
}

type ControlHandler = (
  body: Record<string, unknown>,
  control: EmulatorControl,
  query: URLSearchParams,
) => ControlAnswer;
export type ControlMethod = 'GET' | 'POST' | 'DELETE';

/*
 * Casts below hand JSON values over as they came: every control operation checks its arguments at
 * run time and throws a ControlError (400/404/409) the server turns into JSON.
 */

/** The body's fields other than those named, as an options object (absent ones left out). */
function options<T extends object>(body: Record<string, unknown>, omit: readonly string[]): T {
  return Object.fromEntries(
    Object.entries(body).filter(([key, value]) => !omit.includes(key) && value !== undefined),
  ) as T;
}

/** An `{appid}` option, only when the body names one, so that the single-app calls stay as they were. */
function appChoice(body: Record<string, unknown>): { appid?: string } | undefined {
  return body.appid === undefined ? undefined : { appid: body.appid as string };
}

function createUser(body: Record<string, unknown>, control: EmulatorControl): ControlAnswer {
  const user = control.createUser(body as CreateUserOptions);
  return {
    status: 200,
    body: {
      openid: user.openid,
      ...(user.unionid === undefined ? {} : { unionid: user.unionid }),
      // With one app the openid says it all.
      ...(control.apps.length > 1 ? { openids: user.openids } : {}),
    },
  };
}

function login(body: Record<string, unknown>, control: EmulatorControl): ControlAnswer {
  onlyKeys(body, ['openid', 'rotateSessionKey', 'appid', 'scope'], 'The body');
  return {
    status: 200,
    body: control.login(body.openid as string | undefined, options<LoginOptions>(body, ['openid'])),
  };
}

/** A browser login's outcome without a browser: the URL WeChat would redirect to. */
function authorize(body: Record<string, unknown>, control: EmulatorControl): ControlAnswer {
  return { status: 200, body: control.authorize(body as unknown as AuthorizeOptions) };
}

function phoneCode(body: Record<string, unknown>, control: EmulatorControl): ControlAnswer {
  onlyKeys(body, ['openid', 'appid'], 'The body');
  return { status: 200, body: { code: control.phoneCode(body.openid as string, appChoice(body)) } };
}

function encrypt(body: Record<string, unknown>, control: EmulatorControl): ControlAnswer {
  onlyKeys(body, ['openid', 'kind', 'data', 'appid'], 'The body');
  return {
    status: 200,
    body: control.encrypt(
      body.openid as string,
      body.kind as EncryptKind,
      body.data as object | undefined,
      appChoice(body),
    ),
  };
}

function armFault(body: Record<string, unknown>, control: EmulatorControl): ControlAnswer {
  control.setFault(body as unknown as Fault);
  return { status: 204 };
}

function clearFaults(_body: Record<string, unknown>, control: EmulatorControl): ControlAnswer {
  control.clearFaults();
  return { status: 204 };
}

function invalidateAccessTokens(body: Record<string, unknown>, control: EmulatorControl): ControlAnswer {
  onlyKeys(body, ['appid'], 'The body');
  control.invalidateAccessTokens(appChoice(body));
  return { status: 204 };
}

/**
 * The count of every API the emulator's apps call (the /sns/ exchange only when an app other than a
 * mini-program has it to call); `?appid=` counts those for that app only.
 */
function calls(
  _body: Record<string, unknown>,
  control: EmulatorControl,
  query: URLSearchParams,
): ControlAnswer {
  const appid = query.get('appid') ?? undefined;
  const oauth = control.apps.some((app) => app.kind !== 'miniprogram');
  const apis = EMULATED_APIS.filter((api) => oauth || !SNS_OAUTH_APIS.includes(api));
  return { status: 200, body: Object.fromEntries(apis.map((api) => [api, control.calls(api, appid)])) };
}

/** The apps, without their secrets (what the printed settings or the test already hold). */
function apps(_body: Record<string, unknown>, control: EmulatorControl): ControlAnswer {
  return {
    status: 200,
    body: { apps: control.apps.map(({ appid, kind, name }) => ({ appid, kind, name })) },
  };
}

function wxacodes(_body: Record<string, unknown>, control: EmulatorControl): ControlAnswer {
  return { status: 200, body: { wxacodes: control.wxacodes() } };
}

/** The control surface, by path and method. Bodies are JSON objects whatever the Content-Type (curl -d). */
export const CONTROL_ROUTES: ReadonlyMap<string, Partial<Record<ControlMethod, ControlHandler>>> = new Map([
  ['/__emulator/apps', { GET: apps }],
  ['/__emulator/users', { POST: createUser }],
  ['/__emulator/login', { POST: login }],
  ['/__emulator/authorize', { POST: authorize }],
  ['/__emulator/phone-code', { POST: phoneCode }],
  ['/__emulator/encrypt', { POST: encrypt }],
  ['/__emulator/faults', { POST: armFault, DELETE: clearFaults }],
  ['/__emulator/access-token/invalidate', { POST: invalidateAccessTokens }],
  ['/__emulator/calls', { GET: calls }],
  ['/__emulator/wxacodes', { GET: wxacodes }],
]);

export const CONTROL_PREFIX = '/__emulator/';
