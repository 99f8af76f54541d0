import { createAuthClient } from './lib/wxauth/index';
import { emulatedWechat } from './emulated-wechat';

/**
 * wxauth's URL: here `npm start` on this computer (README.md). In production, your wxauth's
 * PUBLIC_URL: https, and listed among the mini-program's request domains.
 */
const baseUrl = 'http://localhost:3000';

/**
 * true while wxauth runs with nothing configured: WeChat is then its built-in emulator, which knows
 * nothing of the codes wx.login() gets from WeChat. false once wxauth has this mini-program's AppID
 * and AppSecret (and project.config.json that AppID): then the real wx.login() logs in.
 */
const EMULATED_WECHAT = true;

/**
 * The one client of the mini-program. Every page imports this instance: the single-flight refresh
 * and re-login work only when all requests go through the same client.
 */
export const auth = createAuthClient(
  EMULATED_WECHAT ? { baseUrl, wx: emulatedWechat(baseUrl) } : { baseUrl },
);
