import { expectObject, invalid, onlyKeys, optionalInteger, optionalString } from './input.js';
import { EMULATED_APIS, type EmulatedApi, type Fault, type FaultMode } from './types.js';
import { errmsgFor } from './wechat-errors.js';

const MODES: readonly FaultMode[] = ['busy', 'http500', 'garbage', 'slow', 'drop', 'errcode'];
const DEFAULT_DELAY_MS = 30_000;
const MAX_DELAY_MS = 600_000;
const MAX_TIMES = 1000;

/** A validated fault with its remaining hits. */
export interface ArmedFault {
  api: EmulatedApi | '*';
  mode: FaultMode;
  errcode: number;
  errmsg: string;
  delayMs: number;
  remaining: number;
  /** Only requests for this app; undefined: any. */
  appid: string | undefined;
}

/**
 * Checks a fault strictly, so that a typo ('delay' for 'delayMs') is refused rather than ignored;
 * `isApp` says whether an appid is one of the emulator's.
 */
export function parseFault(value: unknown, isApp: (appid: string) => boolean = () => true): ArmedFault {
  const input = expectObject(value, 'The fault');
  const api = input.api;
  if (typeof api !== 'string' || !(api === '*' || (EMULATED_APIS as readonly string[]).includes(api))) {
    throw invalid(`api must be one of ${EMULATED_APIS.join(', ')} or '*'.`);
  }
  const mode = input.mode;
  if (typeof mode !== 'string' || !(MODES as readonly string[]).includes(mode)) {
    throw invalid(`mode must be one of ${MODES.join(', ')}.`);
  }
  const allowed = ['api', 'mode', 'times', 'appid'];
  if (mode === 'errcode') allowed.push('errcode', 'errmsg');
  if (mode === 'slow') allowed.push('delayMs');
  onlyKeys(input, allowed, `A fault of mode ${mode}`);

  const appid = input.appid;
  if (appid !== undefined && (typeof appid !== 'string' || !isApp(appid))) {
    throw invalid(`appid must be the appid of one of the emulator's apps, not ${JSON.stringify(appid)}.`);
  }
  const times = optionalInteger(input.times, 'times', 1, MAX_TIMES) ?? 1;
  const delayMs = optionalInteger(input.delayMs, 'delayMs', 0, MAX_DELAY_MS) ?? DEFAULT_DELAY_MS;
  let errcode = -1;
  let errmsg = 'system error';
  if (mode === 'errcode') {
    const given = optionalInteger(input.errcode, 'errcode', -(2 ** 31), 2 ** 31 - 1);
    if (given === undefined || given === 0)
      throw invalid('A fault of mode errcode needs a non-zero integer errcode.');
    errcode = given;
    errmsg =
      optionalString(input.errmsg, 'errmsg', /^[^\r\n]{1,200}$/, '1 to 200 characters on one line') ??
      errmsgFor(given);
  }
  return {
    api: api as EmulatedApi | '*',
    mode: mode as FaultMode,
    errcode,
    errmsg,
    delayMs,
    remaining: times,
    appid,
  };
}

export function describeFault(fault: ArmedFault): string {
  const detail =
    fault.mode === 'errcode' ? ` ${fault.errcode}` : fault.mode === 'slow' ? ` ${fault.delayMs}ms` : '';
  const app = fault.appid === undefined ? '' : ` for ${fault.appid}`;
  return `${fault.api}${app} ${fault.mode}${detail} (${fault.remaining} left)`;
}

/** Armed faults, hit in the order they were armed by requests to their API (and app). */
export class FaultQueue {
  private armed: ArmedFault[] = [];

  constructor(private readonly isApp: (appid: string) => boolean = () => true) {}

  arm(fault: Fault): void {
    this.armed.push(parseFault(fault, this.isApp));
  }

  /** The fault this request to `api` for the app `appid` (undefined: none known) meets, if any, counting the hit. */
  take(api: EmulatedApi, appid?: string): ArmedFault | undefined {
    const index = this.armed.findIndex(
      (fault) =>
        (fault.api === api || fault.api === '*') && (fault.appid === undefined || fault.appid === appid),
    );
    if (index < 0) return undefined;
    const fault = this.armed[index]!;
    fault.remaining -= 1;
    if (fault.remaining === 0) this.armed.splice(index, 1);
    return fault;
  }

  clear(): void {
    this.armed = [];
  }

  pending(): string[] {
    return this.armed.map(describeFault);
  }
}
