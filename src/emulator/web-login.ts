import { invalid } from './input.js';
import type { AppState, EmulatorState, OauthScope } from './state.js';
import type { AuthorizeDecision } from './types.js';
import { drawQrCode } from './wxacode.js';

/*
 * WeChat's browser login pages: open.weixin.qq.com/connect/oauth2/authorize (an official account's web
 * authorization, inside WeChat) and /connect/qrconnect (a website's QR login). What WeChat checks and
 * shows is taken from its docs (公众号 网页授权; 网站应用微信登录) and, where those are silent, from
 * what developers report; each place says which. The pages are plain HTML forms posting back here:
 * no script, every value escaped.
 */

/** What a login page was asked for, checked. */
export interface AuthorizeRequest {
  app: AppState;
  redirectUri: string;
  scope: OauthScope;
  /** '' when the request had none: WeChat's redirect carries `state=` all the same. */
  state: string;
}

/** WeChat's refusal of a malformed request: an error page, never a redirect. */
export interface LoginPageError {
  /** The page's code, as WeChat shows it (10003…); undefined where WeChat shows a message alone. */
  errcode?: number;
  message: string;
}

export function isPageError(value: AuthorizeRequest | LoginPageError): value is LoginPageError {
  return 'message' in value;
}

/**
 * The errcodes of the web-authorization page, as WeChat's official-account docs list them (网页授权,
 * 错误返回码说明); developers meet them as the page's text, e.g. "10003 redirect_uri域名与后台配置不一致".
 */
const OAUTH2_ERRORS = {
  redirectMismatch: { errcode: 10003, message: 'redirect_uri域名与后台配置不一致' },
  noScopeRight: { errcode: 10005, message: '此公众号并没有这些scope的权限' },
  scopeMissing: { errcode: 10010, message: 'scope不能为空' },
  redirectMissing: { errcode: 10011, message: 'redirect_uri不能为空' },
  appidMissing: { errcode: 10012, message: 'appid不能为空' },
  openPlatformAppid: { errcode: 10016, message: '不支持微信开放平台的Appid，请使用公众号Appid' },
  // Not in that list: an appid WeChat does not know, or a response_type other than code. The wording
  // is the emulator's, in the style of the page ("appid参数错误").
  unknownAppid: { message: 'appid参数错误' },
  responseType: { message: 'response_type参数错误' },
} as const satisfies Record<string, LoginPageError>;

/**
 * The website login's (网站应用微信登录) page. Its docs say only: "若提示“该链接无法访问”，请检查参数是否
 * 填写错误，如redirect_uri的域名与审核时填写的授权域名不一致或scope不为snsapi_login"; developers who
 * sent an official account's appid, or another scope, report "Scope 参数错误或没有 Scope 权限".
 */
const QRCONNECT_ERRORS = {
  unreachable: { message: '该链接无法访问' },
  scope: { message: 'Scope 参数错误或没有 Scope 权限' },
  redirect: { message: 'redirect_uri 参数错误' },
  appid: { message: 'AppID 参数错误' },
} as const satisfies Record<string, LoginPageError>;

const OA_SCOPES: readonly OauthScope[] = ['snsapi_base', 'snsapi_userinfo'];

/**
 * WeChat checks redirect_uri's domain against the app's configured 网页授权域名 (10003 otherwise). The
 * emulator configures none, so it takes any absolute http(s) URL and refuses the rest as a mismatch.
 */
function redirectTarget(value: string): string | undefined {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? value : undefined;
  } catch {
    return undefined;
  }
}

export type LoginPageKind = 'oauth2' | 'qrconnect';

/** The parameters of GET /connect/oauth2/authorize or /connect/qrconnect, checked as WeChat does. */
export function checkAuthorizeRequest(
  state: EmulatorState,
  kind: LoginPageKind,
  params: URLSearchParams,
): AuthorizeRequest | LoginPageError {
  const appid = params.get('appid') ?? '';
  const rawRedirect = params.get('redirect_uri') ?? '';
  const scope = params.get('scope') ?? '';
  const app = state.findApp(appid);
  if (kind === 'oauth2') {
    if (appid === '') return OAUTH2_ERRORS.appidMissing;
    if (!app) return OAUTH2_ERRORS.unknownAppid;
    // A website's or mobile app's appid is an open-platform one (10016); a mini-program has no web
    // authorization either, and WeChat's list has no closer code for it.
    if (app.kind !== 'official_account') return OAUTH2_ERRORS.openPlatformAppid;
    if (rawRedirect === '') return OAUTH2_ERRORS.redirectMissing;
    if (params.get('response_type') !== 'code') return OAUTH2_ERRORS.responseType;
    if (scope === '') return OAUTH2_ERRORS.scopeMissing;
    if (!OA_SCOPES.includes(scope as OauthScope)) return OAUTH2_ERRORS.noScopeRight;
    const redirectUri = redirectTarget(rawRedirect);
    if (redirectUri === undefined) return OAUTH2_ERRORS.redirectMismatch;
    return { app, redirectUri, scope: scope as OauthScope, state: params.get('state') ?? '' };
  }
  if (!app) return QRCONNECT_ERRORS.appid;
  if (app.kind !== 'website' || scope !== 'snsapi_login') return QRCONNECT_ERRORS.scope;
  if (params.get('response_type') !== 'code') return QRCONNECT_ERRORS.unreachable;
  const redirectUri = redirectTarget(rawRedirect);
  if (redirectUri === undefined) return QRCONNECT_ERRORS.redirect;
  return { app, redirectUri, scope: 'snsapi_login', state: params.get('state') ?? '' };
}

/** What the person on the page chose. */
export interface LoginChoice {
  /** Their openid in any app; undefined: a new person. */
  openid?: string;
  decision: AuthorizeDecision;
  /** Official accounts only: the page was opened as a Moments (朋友圈) snapshot. */
  snapshot: boolean;
}

/**
 * Where WeChat sends the browser after the choice. Allow: redirect_uri?code=CODE&state=STATE (both
 * docs). Refuse: redirect_uri?state=STATE, as the official-account docs and the website docs' English
 * version say; the website docs' Chinese version now says no redirect happens at all, and developers
 * report the same for both (the page just stays, or WeChat closes it). The emulator redirects, so that
 * a service's refusal path can be driven; a service must also live with a person who never comes back.
 */
export function decide(state: EmulatorState, request: AuthorizeRequest, choice: LoginChoice): string {
  const { app, scope } = request;
  if (choice.snapshot && app.kind !== 'official_account') {
    throw invalid("snapshot: only an official account's pages open as Moments (朋友圈) snapshots.");
  }
  if (choice.decision === 'refuse') {
    // snsapi_base is silent (no page to refuse on), and a snapshot page shows no consent either.
    if (scope === 'snsapi_base') throw invalid('snsapi_base is silent: WeChat shows nothing to refuse.');
    if (choice.snapshot) throw invalid('A snapshot page shows no consent: there is nothing to refuse.');
    return withQuery(request.redirectUri, { state: request.state });
  }
  let code: string;
  if (choice.snapshot) {
    const known = choice.openid === undefined ? undefined : state.findUser(choice.openid, app.appid);
    code = state.snapshotCode(known, app);
  } else {
    code = state.login(choice.openid, app, { rotateSessionKey: false, scope }).code;
  }
  return withQuery(request.redirectUri, { code, state: request.state });
}

/** The URL with parameters appended to its query, the rest (fragment included) kept as it came. */
function withQuery(url: string, params: Record<string, string>): string {
  const hash = url.indexOf('#');
  const base = hash === -1 ? url : url.slice(0, hash);
  const fragment = hash === -1 ? '' : url.slice(hash);
  const query = new URLSearchParams(params).toString();
  const separator = !base.includes('?') ? '?' : base.endsWith('?') || base.endsWith('&') ? '' : '&';
  return `${base}${separator}${query}${fragment}`;
}

export function escapeHtml(value: string): string {
  return value.replace(
    /[&<>"']/g,
    (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!,
  );
}

const STYLE = `body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.25rem}fieldset{border:1px solid #ddd;border-radius:6px;margin:1rem 0}
label{display:block;margin:.3rem 0;font-family:monospace}button{margin:.3rem .3rem .3rem 0;padding:.5rem 1rem}
.allow{background:#07c160;color:#fff;border:0;border-radius:4px}.note{color:#666;font-size:.85rem}
img{display:block;margin:1rem auto}`;

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body>
${body}
<p class="note">WeChat emulator (development only: anyone can log in as anyone).</p>
</body></html>
`;
}

/** The error page WeChat shows instead of a login. */
export function renderError(error: LoginPageError): string {
  const text = error.errcode === undefined ? error.message : `${error.errcode} ${error.message}`;
  return page('微信网页授权', `<h1>Oops! Something went wrong:(</h1>\n<p id="error">${escapeHtml(text)}</p>`);
}

/** The request's parameters again, so that the form's POST is checked as the GET was. */
function hiddenFields(params: URLSearchParams): string {
  return ['appid', 'redirect_uri', 'response_type', 'scope', 'state']
    .filter((name) => params.has(name))
    .map((name) => `<input type="hidden" name="${name}" value="${escapeHtml(params.get(name)!)}">`)
    .join('\n');
}

/** Radio buttons: each known person by their openid in the app, then a new person. */
function personPicker(openids: readonly string[]): string {
  const people = openids.map(
    (openid, index) =>
      `<label><input type="radio" name="person" value="${escapeHtml(openid)}"${index === 0 ? ' checked' : ''}> ${escapeHtml(openid)}</label>`,
  );
  people.push(
    `<label><input type="radio" name="person" value="new"${openids.length === 0 ? ' checked' : ''}> a new person</label>`,
  );
  return `<fieldset><legend>Who is this phone?</legend>\n${people.join('\n')}\n</fieldset>`;
}

const SNAPSHOT_BOX =
  '<label><input type="checkbox" name="snapshot" value="1"> opened from a Moments (朋友圈) snapshot page</label>';

/** The page offers the newest this many people (a long-running emulator may know thousands). */
const PICKER_LIMIT = 50;

/**
 * The official account's page. snsapi_base: WeChat redirects at once, without a page; the emulator
 * asks only which person holds the phone. snsapi_userinfo: WeChat's consent sheet (app name, 允许 /
 * 拒绝).
 */
export function renderAuthorize(
  state: EmulatorState,
  request: AuthorizeRequest,
  params: URLSearchParams,
): string {
  const openids = state.openidsIn(request.app).slice(-PICKER_LIMIT);
  const name = escapeHtml(request.app.app.name);
  if (request.scope === 'snsapi_base') {
    return page(
      'who is this phone?',
      `<h1>who is this phone?</h1>
<p class="note">${name} asks silently (snsapi_base): WeChat shows no page and redirects at once.</p>
<form method="post">
${hiddenFields(params)}
${personPicker(openids)}
${SNAPSHOT_BOX}
<button class="allow" type="submit" name="decision" value="allow">Continue</button>
</form>`,
    );
  }
  return page(
    `${request.app.app.name} 申请使用`,
    `<h1 id="app-name">${name}</h1>
<p>申请获取以下权限：获得你的公开信息（昵称、头像等）<br>asks for your public profile (nickname, avatar).</p>
<form method="post">
${hiddenFields(params)}
${personPicker(openids)}
${SNAPSHOT_BOX}
<button class="allow" type="submit" name="decision" value="allow">允许 Allow</button>
<button type="submit" name="decision" value="refuse">拒绝 Refuse</button>
</form>`,
  );
}

/**
 * The website's QR login page. The QR code is real: it reads as this page's own URL, which a phone's
 * browser can open to log in there (the emulator pairs no scanning phone with the page). The buttons
 * play the phone: scan and confirm as a person, or refuse.
 */
export async function renderQrconnect(
  state: EmulatorState,
  request: AuthorizeRequest,
  params: URLSearchParams,
  pageUrl: string,
): Promise<string> {
  const picture = await drawQrCode(pageUrl, 280);
  const openids = state.openidsIn(request.app).slice(-PICKER_LIMIT);
  const buttons = openids.map(
    (openid) =>
      `<button class="allow" type="submit" name="person" value="${escapeHtml(openid)}">Scan with the emulator's phone as ${escapeHtml(openid)}</button>`,
  );
  buttons.push(
    `<button class="allow" type="submit" name="person" value="new">Scan with the emulator's phone as a new person</button>`,
  );
  return page(
    '微信登录',
    `<h1>微信登录</h1>
<p id="app-name">${escapeHtml(request.app.app.name)}</p>
<img id="qrcode" alt="QR code" width="280" height="280" src="data:image/png;base64,${picture.toString('base64')}">
<p class="note">请使用微信扫描二维码登录 · nobody scans in a test: the phone's part below.</p>
<form method="post">
${hiddenFields(params)}
<input type="hidden" name="decision" value="allow">
${buttons.join('\n')}
</form>
<form method="post">
${hiddenFields(params)}
<button type="submit" name="decision" value="refuse">Refuse (拒绝)</button>
</form>`,
  );
}

/** The person and decision a page's form posted. */
export function parseChoice(form: URLSearchParams): LoginChoice {
  const person = form.get('person');
  const decision = form.get('decision');
  if (decision !== 'allow' && decision !== 'refuse') throw invalid('decision must be allow or refuse.');
  return {
    ...(person === null || person === 'new' || person === '' ? {} : { openid: person }),
    decision,
    snapshot: form.get('snapshot') === '1',
  };
}
