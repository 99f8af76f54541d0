import type { FaultQueue } from './faults.js';
import {
  expectObject,
  ID_PATTERN,
  ID_SHAPE,
  invalid,
  onlyKeys,
  optionalBoolean,
  optionalString,
  requireOpenid,
} from './input.js';
import { encryptForUser, parseEncryptKind } from './open-data.js';
import type { EmulatorState, OauthScope } from './state.js';
import { EMULATED_APIS, type EmulatedApi, type EmulatorControl } from './types.js';
import { checkAuthorizeRequest, decide, isPageError } from './web-login.js';

/** Requests per WeChat API and app, faulted ones included. */
export class CallCounter {
  /** By API, then by appid ('' for a request naming no app of the emulator's). */
  private counts = new Map<EmulatedApi, Map<string, number>>();

  count(api: EmulatedApi, appid: string | undefined): void {
    const byApp = this.counts.get(api) ?? new Map<string, number>();
    const key = appid ?? '';
    byApp.set(key, (byApp.get(key) ?? 0) + 1);
    this.counts.set(api, byApp);
  }

  get(api?: EmulatedApi, appid?: string): number {
    if (api !== undefined && !EMULATED_APIS.includes(api)) {
      throw invalid(`api must be one of ${EMULATED_APIS.join(', ')}.`);
    }
    let sum = 0;
    for (const [each, byApp] of this.counts) {
      if (api !== undefined && each !== api) continue;
      for (const [app, n] of byApp) if (appid === undefined || app === appid) sum += n;
    }
    return sum;
  }

  reset(): void {
    this.counts.clear();
  }
}

const OA_SCOPES: readonly OauthScope[] = ['snsapi_base', 'snsapi_userinfo'];

/** The `{appid?}` options of an operation, checked: the app they name (default the first). */
function appOption(opts: unknown, what: string): unknown {
  if (opts === undefined) return undefined;
  const options = expectObject(opts, what);
  onlyKeys(options, ['appid'], what);
  return options.appid;
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
    apps: state.config.apps,
    createUser: (opts) => state.createUser(opts),
    login(openid, opts = {}) {
      const id = openid === undefined ? undefined : requireOpenid(openid);
      const options = expectObject(opts, 'The login options');
      onlyKeys(options, ['rotateSessionKey', 'appid', 'scope'], 'The login options');
      const app = state.app(options.appid);
      const rotateSessionKey = optionalBoolean(options.rotateSessionKey, 'rotateSessionKey') ?? true;
      let scope: OauthScope | undefined;
      if (options.scope !== undefined) {
        // Only an official account's login lets the page choose (silent snsapi_base or snsapi_userinfo).
        if (app.kind !== 'official_account') {
          throw invalid(`scope is an official account's choice; ${app.appid} is a ${app.kind} app.`);
        }
        if (!OA_SCOPES.includes(options.scope as OauthScope)) {
          throw invalid(`scope must be one of ${OA_SCOPES.join(', ')}.`);
        }
        scope = options.scope as OauthScope;
      }
      return state.login(id, app, { rotateSessionKey, scope });
    },
    authorize(opts) {
      const options = expectObject(opts, 'The authorize options');
      onlyKeys(
        options,
        ['appid', 'redirectUri', 'state', 'scope', 'openid', 'decision', 'snapshot'],
        'The authorize options',
      );
      const app = state.app(options.appid);
      if (typeof options.redirectUri !== 'string') throw invalid('redirectUri must be a string.');
      const openid = optionalString(options.openid, 'openid', ID_PATTERN, ID_SHAPE);
      if (options.state !== undefined && typeof options.state !== 'string') {
        throw invalid('state must be a string.');
      }
      if (options.decision !== 'allow' && options.decision !== 'refuse') {
        throw invalid('decision must be allow or refuse.');
      }
      const snapshot = optionalBoolean(options.snapshot, 'snapshot') ?? false;
      const scope = options.scope ?? (app.kind === 'website' ? 'snsapi_login' : 'snsapi_base');
      // The same checks as the page's, so that a test without a browser meets WeChat's refusals too.
      const params = new URLSearchParams({
        appid: app.appid,
        redirect_uri: options.redirectUri,
        response_type: 'code',
        scope: String(scope),
        state: (options.state as string | undefined) ?? '',
      });
      const request = checkAuthorizeRequest(state, app.kind === 'website' ? 'qrconnect' : 'oauth2', params);
      if (isPageError(request)) {
        throw invalid(
          request.errcode === undefined ? request.message : `${request.errcode} ${request.message}`,
        );
      }
      return {
        location: decide(state, request, {
          ...(openid === undefined ? {} : { openid }),
          decision: options.decision,
          snapshot,
        }),
      };
    },
    phoneCode(openid, opts) {
      const app = state.miniProgram(appOption(opts, 'The phone-code options'), 'Phone codes');
      return state.phoneCode(requireOpenid(openid), app);
    },
    encrypt(openid, kind, data, opts) {
      const checkedKind = parseEncryptKind(kind);
      const app = state.miniProgram(appOption(opts, 'The encrypt options'), 'Open data');
      const user = state.user(requireOpenid(openid), app);
      return encryptForUser(user, checkedKind, data, { appid: app.appid, nowMs: state.now() });
    },
    sessionKeyOf(openid, opts) {
      const app = state.miniProgram(appOption(opts, 'The session-key options'), 'Session keys');
      return state.user(requireOpenid(openid), app).sessionKey;
    },
    invalidateAccessTokens(opts) {
      const appid = appOption(opts, 'The invalidate options');
      state.invalidateAccessTokens(appid === undefined ? undefined : state.app(appid));
    },
    setFault: (fault) => faults.arm(fault),
    clearFaults: () => faults.clear(),
    assertNoPendingFaults() {
      const pending = faults.pending();
      if (pending.length > 0) {
        throw new Error(`WeChat emulator faults armed but never hit: ${pending.join('; ')}`);
      }
    },
    wxacodes: () => state.wxacodes(),
    calls(api, appid) {
      if (appid !== undefined) state.app(appid);
      return counter.get(api, appid);
    },
    reset() {
      state.reset();
      faults.clear();
      counter.reset();
    },
  };
}
