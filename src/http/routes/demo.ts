import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Router } from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { type AppDirectory, appDirectory } from '../../config/apps.js';
import type { EmulatorControl } from '../../emulator/index.js';
import { AppError } from '../../errors/index.js';
import { APPID_PATTERN, OPENID_PATTERN, OPENID_SHAPE } from '../../lib/index.js';
import type { BearerState } from '../middleware/bearer.js';
import { readBody } from '../middleware/body.js';

/**
 * The pages allow only this origin's scripts, styles and requests; a picture may be a data: URL (the
 * mini-program code), and the website page frames the phone page of the same origin.
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-src 'self'",
  "frame-ancestors 'self'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

/** Files are named by the code, never by a path a client sends: a name is only ever matched against this. */
const FILE = /^[a-z][a-z-]*\.(js|css)$/;

/** The package's own folder, wherever this runs from (src/ through tsx, dist/, or a build elsewhere). */
function packageRoot(): string {
  return fileURLToPath(new URL('.', import.meta.resolve('wxauth/package.json')));
}

const LoginBody = z.object({
  openid: z.string({ error: 'must be a string' }).regex(OPENID_PATTERN, `must be ${OPENID_SHAPE}`).optional(),
  /** The mini-program logging in; default the emulator's first (the one the website's code opens). */
  appid: z.string({ error: 'must be a string' }).regex(APPID_PATTERN, 'must be an AppID').optional(),
});

/** The demo's redirect URI, under the service's own origin: the browser SDK's redirect login lands here. */
export const DEMO_CALLBACK_PATH = '/demo/oauth/callback';

/**
 * The zero-config apps with the demo's callback (`${publicUrl}/demo/oauth/callback`) as a redirect URI of
 * the official account and the website. Done here rather than in buildDeps: with PORT=0 the URL is only
 * known once the server listens, which is when server.ts creates the app.
 */
export function withDemoCallback(apps: AppDirectory, publicUrl: string): AppDirectory {
  const callback = `${publicUrl}${DEMO_CALLBACK_PATH}`;
  return appDirectory(
    apps.all.map((app) =>
      (app.kind === 'official_account' || app.kind === 'website') && !app.redirectUris.includes(callback)
        ? { ...app, redirectUris: [...app.redirectUris, callback] }
        : app,
    ),
    apps.qrLogin?.appid,
  );
}

const IdentityQuery = z.object({
  openid: z.string({ error: 'must be a string' }).regex(OPENID_PATTERN, `must be ${OPENID_SHAPE}`),
});

/**
 * `/demo`, with the embedded emulator only: a website's login page showing a mini-program code, and
 * beside it `/demo/phone`, a phone whose WeChat is the emulator (wx.login(), and a camera that finds
 * the codes the emulator drew). The phone runs the mini-program client, the website the browser SDK,
 * both against this service's real routes.
 */
export function demoRoutes(router: Router<BearerState>, deps: { emulator: EmulatorControl }): void {
  const { emulator } = deps;
  const root = packageRoot();
  const DEMO = join(root, 'src/demo');
  const SDKS = { browser: join(root, 'dist/browser'), client: join(root, 'dist/client') } as const;

  router.get('/demo', async function demoWebsite(ctx) {
    await serve(ctx, join(DEMO, 'website.html'), 'html');
  });

  router.get('/demo/phone', async function demoPhone(ctx) {
    await serve(ctx, join(DEMO, 'phone.html'), 'html');
  });

  // An official account's page as WeChat's in-app browser opens it (H5): it logs in by redirect.
  router.get('/demo/h5', async function demoH5(ctx) {
    await serve(ctx, join(DEMO, 'h5.html'), 'html');
  });

  // Where /oauth/authorize sends the browser back: the browser SDK's handleRedirectCallback().
  router.get(DEMO_CALLBACK_PATH, async function demoOAuthCallback(ctx) {
    await serve(ctx, join(DEMO, 'callback.html'), 'html');
  });

  router.get('/demo/assets/:file', async function demoAsset(ctx) {
    await serve(ctx, join(DEMO, fileOf(ctx)), extensionOf(ctx));
  });

  router.get('/demo/sdk/:sdk/:file', async function demoSdk(ctx) {
    const sdk = (ctx.params as { sdk?: string }).sdk;
    if (sdk !== 'browser' && sdk !== 'client') throw notFound(ctx);
    await serve(ctx, join(SDKS[sdk], fileOf(ctx)), extensionOf(ctx), `npm run build:${sdk}`);
  });

  // The phone's mini-programs: which apps the emulator serves (no secret), for the phone to open them.
  router.get('/demo/wx/apps', function demoWxApps(ctx) {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { apps: emulator.apps.map(({ appid, kind, name }) => ({ appid, kind, name })) };
  });

  // What WeChat on the phone does: wx.login() in a mini-program gives a code for the phone's user.
  router.post('/demo/wx/login', function demoWxLogin(ctx) {
    const body = readBody(ctx, LoginBody);
    const app =
      body.appid === undefined ? emulator.apps[0] : emulator.apps.find((a) => a.appid === body.appid);
    if (app?.kind !== 'miniprogram') {
      throw new AppError(
        400,
        'invalid_request',
        'appid: not a mini-program of the emulator (GET /demo/wx/apps).',
      );
    }
    const openid = person(emulator, body.openid);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { ...emulator.login(openid, { appid: app.appid }), appid: app.appid };
  });

  // Who the phone's person is in the browser apps: the openid to pick on WeChat's pages (the emulator's
  // pages list people by their openid in the app at hand).
  router.get('/demo/wx/identity', function demoWxIdentity(ctx) {
    const parsed = IdentityQuery.safeParse(ctx.query);
    if (!parsed.success) throw new AppError(400, 'invalid_request', 'openid: an openid of the phone.');
    const openid = person(emulator, parsed.data.openid);
    const openids: Record<string, string> = {};
    for (const app of emulator.apps) {
      // login() answers the person's openid in that app (its code is never used, and expires).
      if (app.kind === 'official_account' || app.kind === 'website')
        openids[app.appid] = emulator.login(openid, { appid: app.appid }).openid;
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { openids };
  });

  // The phone's camera on the screen: the newest mini-program code the emulator drew.
  router.get('/demo/wx/scan', function demoWxScan(ctx) {
    const [code] = emulator.wxacodes();
    if (code === undefined) {
      throw new AppError(404, 'invalid_request', 'No mini-program code was drawn yet: open /demo first.');
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { scene: code.scene, page: code.page };
  });
}

/**
 * The phone's user, by an openid of theirs in any app: created when unknown (a new phone, or a service
 * started again) with a unionid, since the emulated apps share one open-platform account and the
 * unionid is what makes their logins one person at wxauth (the sessions list shows both apps).
 */
function person(emulator: EmulatorControl, openid: string | undefined): string {
  try {
    return emulator.createUser({ ...(openid === undefined ? {} : { openid }), unionid: true }).openid;
  } catch (error) {
    // 409: an openid the emulator knows already, in one app or another.
    if (openid !== undefined && (error as { status?: unknown }).status === 409) return openid;
    throw error;
  }
}

async function serve(ctx: Context, path: string, type: string, build?: string): Promise<void> {
  let body: Buffer;
  try {
    body = await readFile(path);
  } catch {
    const hint = build === undefined ? '' : ` Build it first: ${build}.`;
    throw new AppError(404, 'invalid_request', `The demo has no ${ctx.path}.${hint}`);
  }
  ctx.set({
    'Content-Security-Policy': CSP,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-cache',
  });
  ctx.type = TYPES[type]!;
  ctx.body = body;
}

function fileOf(ctx: Context): string {
  const file = (ctx.params as { file?: string }).file ?? '';
  if (!FILE.test(file)) throw notFound(ctx);
  return file;
}

function extensionOf(ctx: Context): string {
  return fileOf(ctx).split('.').pop()!;
}

function notFound(ctx: Context): AppError {
  return new AppError(404, 'invalid_request', `The demo has no ${ctx.path}.`);
}
