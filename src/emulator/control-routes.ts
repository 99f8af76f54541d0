import { onlyKeys } from './input.js';
import type { CreateUserOptions, EmulatorControl, EncryptKind, Fault } from './types.js';
import { EMULATED_APIS } from './types.js';

export interface ControlAnswer {
  status: number;
  body?: unknown;
}

type ControlHandler = (body: Record<string, unknown>, control: EmulatorControl) => ControlAnswer;
export type ControlMethod = 'GET' | 'POST' | 'DELETE';

/*
 * Casts below hand JSON values over as they came: every control operation checks its arguments at
 * run time and throws a ControlError (400/404/409) the server turns into JSON.
 */

function createUser(body: Record<string, unknown>, control: EmulatorControl): ControlAnswer {
  const user = control.createUser(body as CreateUserOptions);
  return {
    status: 200,
    body: { openid: user.openid, ...(user.unionid === undefined ? {} : { unionid: user.unionid }) },
  };
}

function login(body: Record<string, unknown>, control: EmulatorControl): ControlAnswer {
  onlyKeys(body, ['openid', 'rotateSessionKey'], 'The body');
  const { openid, rotateSessionKey } = body;
  return {
    status: 200,
    body: control.login(
      openid as string | undefined,
      rotateSessionKey === undefined ? {} : { rotateSessionKey: rotateSessionKey as boolean },
    ),
  };
}

function phoneCode(body: Record<string, unknown>, control: EmulatorControl): ControlAnswer {
  onlyKeys(body, ['openid'], 'The body');
  return { status: 200, body: { code: control.phoneCode(body.openid as string) } };
}

function encrypt(body: Record<string, unknown>, control: EmulatorControl): ControlAnswer {
  onlyKeys(body, ['openid', 'kind', 'data'], 'The body');
  return {
    status: 200,
    body: control.encrypt(body.openid as string, body.kind as EncryptKind, body.data as object | undefined),
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
  onlyKeys(body, [], 'The body');
  control.invalidateAccessTokens();
  return { status: 204 };
}

function calls(_body: Record<string, unknown>, control: EmulatorControl): ControlAnswer {
  return { status: 200, body: Object.fromEntries(EMULATED_APIS.map((api) => [api, control.calls(api)])) };
}

function wxacodes(_body: Record<string, unknown>, control: EmulatorControl): ControlAnswer {
  return { status: 200, body: { wxacodes: control.wxacodes() } };
}

/** The control surface, by path and method. Bodies are JSON objects whatever the Content-Type (curl -d). */
export const CONTROL_ROUTES: ReadonlyMap<string, Partial<Record<ControlMethod, ControlHandler>>> = new Map([
  ['/__emulator/users', { POST: createUser }],
  ['/__emulator/login', { POST: login }],
  ['/__emulator/phone-code', { POST: phoneCode }],
  ['/__emulator/encrypt', { POST: encrypt }],
  ['/__emulator/faults', { POST: armFault, DELETE: clearFaults }],
  ['/__emulator/access-token/invalidate', { POST: invalidateAccessTokens }],
  ['/__emulator/calls', { GET: calls }],
  ['/__emulator/wxacodes', { GET: wxacodes }],
]);

export const CONTROL_PREFIX = '/__emulator/';
