import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { CallCounter } from './control.js';
import { CONTROL_PREFIX, CONTROL_ROUTES, type ControlMethod } from './control-routes.js';
import type { ArmedFault, FaultQueue } from './faults.js';
import { parseJson, readBody, send, sendEmpty, sendJson } from './http-io.js';
import { newRid } from './ids.js';
import { ControlError, expectObject, invalid } from './input.js';
import type { EmulatorState } from './state.js';
import type { EmulatorControl } from './types.js';
import {
  checkAuthorizeRequest,
  decide,
  isPageError,
  type LoginPageKind,
  parseChoice,
  renderAuthorize,
  renderError,
  renderQrconnect,
} from './web-login.js';
import { WECHAT_ERRORS, withRid } from './wechat-errors.js';
import { isPicture, WECHAT_ROUTES, type WechatRoute } from './wechat-routes.js';

export interface EmulatorServerDeps {
  state: EmulatorState;
  faults: FaultQueue;
  counter: CallCounter;
  control: EmulatorControl;
}

export interface EmulatorServer {
  listen(port: number, host: string): Promise<string>;
  close(): Promise<void>;
  /** undefined before the first listen(). */
  readonly url: string | undefined;
}

const NOT_FOUND_TYPE = 'application/json; encoding=utf-8';
const HTTP_500_PAGE =
  '<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n<body>\r\n<center><h1>500 Internal Server Error</h1></center>\r\n</body>\r\n</html>\r\n';
/** WeChat's browser login pages (open.weixin.qq.com), which are no server API: not counted, no faults. */
const LOGIN_PAGES: ReadonlyMap<string, LoginPageKind> = new Map([
  ['/connect/oauth2/authorize', 'oauth2'],
  ['/connect/qrconnect', 'qrconnect'],
]);
const HTML_TYPE = 'text/html; charset=utf-8';
// A login page is the person's answer of the moment: never replayed from a cache.
const PAGE_HEADERS = { 'cache-control': 'no-store' };
/** JSON cut off mid-way, as a broken proxy or a truncated read would leave it. */
const GARBAGE_BODY = '{"errcode":0,"errmsg":"o';

export function createEmulatorServer(deps: EmulatorServerDeps): EmulatorServer {
  const { state, faults, counter, control } = deps;
  const sockets = new Set<Socket>();
  // Pending 'slow' answers: close() clears their timers and lets their handlers return.
  const delays = new Map<NodeJS.Timeout, (elapsed: boolean) => void>();
  let url: string | undefined;

  const server = createServer((req, res) => {
    res.on('error', () => undefined);
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent || res.destroyed) return;
      const description = error instanceof Error ? error.message : String(error);
      sendJson(res, 500, { error: 'server_error', error_description: `The emulator failed: ${description}` });
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  function delay(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        delays.delete(timer);
        resolve(true);
      }, ms);
      timer.unref();
      delays.set(timer, resolve);
    });
  }

  function sendWechat(res: ServerResponse, status: number, contentType: string, body: object): void {
    send(res, status, contentType, JSON.stringify(withRid(body, newRid(state.now()))));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let target: URL;
    try {
      target = new URL(req.url ?? '/', 'http://emulator.invalid');
    } catch {
      sendJson(res, 400, {
        error: 'invalid_request',
        error_description: 'The request target is not a URL path.',
      });
      return;
    }
    if (target.pathname.startsWith(CONTROL_PREFIX)) {
      await handleControl(req, res, target);
      return;
    }
    const loginPage = LOGIN_PAGES.get(target.pathname);
    if (loginPage) {
      await handleLoginPage(req, res, target, loginPage);
      return;
    }
    const route = WECHAT_ROUTES.get(target.pathname);
    if (!route) {
      sendWechat(res, 404, NOT_FOUND_TYPE, WECHAT_ERRORS.notFound);
      return;
    }
    const body = await readBody(req);
    const appid = requestAppid(target.searchParams, body);
    counter.count(route.api, appid);
    const fault = faults.take(route.api, appid);
    if (fault && fault.mode !== 'slow') {
      answerFault(req, res, route, fault);
      return;
    }
    if (fault && !(await delay(fault.delayMs))) return;
    if (req.method !== route.method) {
      sendWechat(
        res,
        200,
        route.contentType,
        route.method === 'GET' ? WECHAT_ERRORS.requireGet : WECHAT_ERRORS.requirePost,
      );
      return;
    }
    const answer = await route.answer({ query: target.searchParams, body }, state);
    if (isPicture(answer)) send(res, 200, route.contentType, answer.picture);
    else sendWechat(res, 200, route.contentType, answer);
  }

  function answerFault(
    req: IncomingMessage,
    res: ServerResponse,
    route: WechatRoute,
    fault: ArmedFault,
  ): void {
    switch (fault.mode) {
      case 'busy':
        sendWechat(res, 200, route.contentType, WECHAT_ERRORS.busy);
        return;
      case 'errcode':
        sendWechat(res, 200, route.contentType, { errcode: fault.errcode, errmsg: fault.errmsg });
        return;
      case 'http500':
        send(res, 500, 'text/html', HTTP_500_PAGE);
        return;
      case 'garbage':
        send(res, 200, route.contentType, GARBAGE_BODY);
        return;
      default:
        req.socket.destroy();
    }
  }

  /**
   * The app a WeChat request is for: the appid it names (query, or stable_token's JSON body) or the
   * app of its access token; undefined when it names none of the emulator's.
   */
  function requestAppid(query: URLSearchParams, body: string | undefined): string | undefined {
    let appid = query.get('appid');
    if (appid === null && body !== undefined) {
      const parsed = parseJson(body);
      if (parsed !== null && typeof parsed === 'object' && 'appid' in parsed) {
        appid = typeof parsed.appid === 'string' ? parsed.appid : null;
      }
    }
    if (appid !== null) return state.findApp(appid)?.appid;
    return state.tokenOwner(query.get('access_token'));
  }

  /**
   * GET shows the page (or WeChat's error page, which WeChat serves with 200); POST is the page's form:
   * its hidden fields are the request's parameters, checked again, and the choice ends in a 302.
   */
  async function handleLoginPage(
    req: IncomingMessage,
    res: ServerResponse,
    target: URL,
    kind: LoginPageKind,
  ): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'POST') {
      send(res, 405, 'text/plain; charset=utf-8', 'GET or POST\n', { allow: 'GET, POST' });
      return;
    }
    const body = req.method === 'POST' ? await readBody(req) : undefined;
    const params = req.method === 'POST' ? new URLSearchParams(body ?? '') : target.searchParams;
    const request = checkAuthorizeRequest(state, kind, params);
    if (isPageError(request)) {
      send(res, 200, HTML_TYPE, renderError(request), PAGE_HEADERS);
      return;
    }
    if (req.method === 'GET') {
      const html =
        kind === 'oauth2'
          ? renderAuthorize(state, request, params)
          : await renderQrconnect(state, request, params, `${url}${target.pathname}${target.search}`);
      send(res, 200, HTML_TYPE, html, PAGE_HEADERS);
      return;
    }
    try {
      const location = decide(state, request, parseChoice(params));
      send(res, 302, HTML_TYPE, '', { ...PAGE_HEADERS, location });
    } catch (error) {
      if (!(error instanceof ControlError)) throw error;
      send(res, 400, HTML_TYPE, renderError({ message: error.message }), PAGE_HEADERS);
    }
  }

  async function handleControl(req: IncomingMessage, res: ServerResponse, target: URL): Promise<void> {
    const pathname = target.pathname;
    const route = CONTROL_ROUTES.get(pathname);
    if (!route) {
      const known = [...CONTROL_ROUTES.keys()].join(', ');
      sendJson(res, 404, {
        error: 'not_found',
        error_description: `No control route ${pathname}; there are ${known}.`,
      });
      return;
    }
    const handler = route[req.method as ControlMethod];
    if (!handler) {
      const allowed = Object.keys(route).join(', ');
      sendJson(
        res,
        405,
        { error: 'method_not_allowed', error_description: `${pathname} takes ${allowed}.` },
        { allow: allowed },
      );
      return;
    }
    const text = await readBody(req);
    try {
      if (text === undefined)
        throw new ControlError(413, 'invalid_request', 'The body is larger than 64 KiB.');
      const parsed = text.trim() === '' ? {} : parseJson(text);
      if (parsed === undefined) throw invalid('The body is not JSON.');
      const answer = handler(expectObject(parsed, 'The body'), control, target.searchParams);
      if (answer.body === undefined) sendEmpty(res, answer.status);
      else sendJson(res, answer.status, answer.body);
    } catch (error) {
      if (!(error instanceof ControlError)) throw error;
      sendJson(res, error.status, { error: error.error, error_description: error.message });
    }
  }

  return {
    get url() {
      return url;
    },
    listen(port, host) {
      if (server.listening) return Promise.reject(new Error(`The emulator is listening already, on ${url}.`));
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          url = `http://${urlHost(host)}:${(server.address() as AddressInfo).port}`;
          resolve(url);
        });
      });
    },
    async close() {
      for (const [timer, release] of delays) {
        clearTimeout(timer);
        release(false);
      }
      delays.clear();
      const closed = server.listening
        ? new Promise<void>((resolve) => server.close(() => resolve()))
        : Promise.resolve();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** The host to put in the URL: a wildcard address is reached through loopback. */
function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
