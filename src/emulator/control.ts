import type { FaultQueue } from './faults.js';
import { expectObject, invalid, onlyKeys, optionalBoolean, requireOpenid } from './input.js';
import { encryptForUser, parseEncryptKind } from './open-data.js';
import type { EmulatorState } from './state.js';
import { EMULATED_APIS, type EmulatedApi, type EmulatorControl } from './types.js';

/** Requests per WeChat API, faulted ones included. */
export class CallCounter {
  private counts = new Map<EmulatedApi, number>();

  count(api: EmulatedApi): void {
    this.counts.set(api, (this.counts.get(api) ?? 0) + 1);
  }

  get(api?: EmulatedApi): number {
    if (api === undefined) return [...this.counts.values()].reduce((sum, n) => sum + n, 0);
    if (!EMULATED_APIS.includes(api)) throw invalid(`api must be one of ${EMULATED_APIS.join(', ')}.`);
    return this.counts.get(api) ?? 0;
  }

  reset(): void {
    this.counts.clear();
  }
}

/**
 * The control operations, checking their arguments at run time: the HTTP control surface hands them
 * JSON bodies as they came, so both ways in refuse the same input with the same message.
 */
export function createControl(
  state: EmulatorState,
  faults: FaultQueue,
  counter: CallCounter,
): EmulatorControl {
  return {
    createUser: (opts) => state.createUser(opts),
    login(openid, opts = {}) {
      const id = openid === undefined ? undefined : requireOpenid(openid);
      const options = expectObject(opts, 'The login options');
      onlyKeys(options, ['rotateSessionKey'], 'The login options');
      return state.login(id, optionalBoolean(options.rotateSessionKey, 'rotateSessionKey') ?? true);
    },
    phoneCode: (openid) => state.phoneCode(requireOpenid(openid)),
    encrypt(openid, kind, data) {
      const checkedKind = parseEncryptKind(kind);
      const user = state.user(requireOpenid(openid));
      return encryptForUser(user, checkedKind, data, { appid: state.config.appid, nowMs: state.now() });
    },
    sessionKeyOf: (openid) => state.user(requireOpenid(openid)).sessionKey,
    invalidateAccessTokens: () => state.invalidateAccessTokens(),
    setFault: (fault) => faults.arm(fault),
    clearFaults: () => faults.clear(),
    assertNoPendingFaults() {
      const pending = faults.pending();
      if (pending.length > 0) {
        throw new Error(`WeChat emulator faults armed but never hit: ${pending.join('; ')}`);
      }
    },
    wxacodes: () => state.wxacodes(),
    calls: (api) => counter.get(api),
    reset() {
      state.reset();
      faults.clear();
      counter.reset();
    },
  };
}
