// The website's login page: the browser SDK shows a mini-program code, waits for the phone, then holds
// the session of this browser and calls the service with it.

import { identity, listSessions, signInWith } from '/demo/assets/oauth.js';
import { createWebAuth } from '/demo/sdk/browser/index.js';

const auth = createWebAuth({ baseUrl: window.location.origin });
const $ = (id) => document.getElementById(id);

const ENDED = {
  canceled: 'Canceled on the phone (or another number was picked).',
  expired: 'This code expired.',
};

async function showCode() {
  $('login').hidden = false;
  $('account').hidden = true;
  $('renew').hidden = true;
  $('status').textContent = 'Getting a code…';
  let login;
  try {
    login = await auth.startQrLogin();
  } catch (error) {
    $('status').textContent = `No code: ${error.message}`;
    $('renew').hidden = false;
    return;
  }
  void showWechatPerson();
  $('code').src = login.image;
  $('match').textContent = login.match;
  $('status').textContent = 'Scan it with WeChat';
  const result = await login
    .wait({
      onStatus(status) {
        if (status === 'scanned') $('status').textContent = 'Scanned: confirm on your phone';
      },
    })
    .catch((error) => ({ status: 'failed', error }));
  if (result.status === 'confirmed') {
    await showAccount();
    return;
  }
  $('status').textContent = ENDED[result.status] ?? `Failed: ${result.error.message}`;
  $('renew').hidden = false;
}

async function showAccount() {
  $('login').hidden = true;
  $('account').hidden = false;
  $('openid').textContent = auth.session()?.openid ?? '';
  await callMe();
  await listSessions(auth, $('sessions')).catch((error) => {
    $('sessions').textContent = error.message;
  });
}

let website;

/** The website app, and who the phone's person is in it (to pick on WeChat's QR page). */
async function showWechatPerson() {
  try {
    website ??= (await (await fetch('/demo/wx/apps')).json()).apps.find((app) => app.kind === 'website');
    const openid = await identity(website.appid);
    $('wechat-person').textContent =
      openid === undefined ? '' : `On WeChat's page, scan as the phone's person: ${openid}`;
  } catch {
    // Only a hint.
  }
}

async function wechatLogin() {
  try {
    website ??= (await (await fetch('/demo/wx/apps')).json()).apps.find((app) => app.kind === 'website');
    await signInWith(auth, website.appid, '/demo');
  } catch (error) {
    $('status').textContent = `No WeChat login: ${error.message}`;
  }
}

async function callMe() {
  try {
    const response = await auth.fetch('/auth/me');
    $('me-result').textContent = `HTTP ${response.status}\n${JSON.stringify(await response.json(), null, 2)}`;
  } catch (error) {
    $('me-result').textContent = error.message;
  }
}

$('renew').addEventListener('click', () => void showCode());
$('wechat-login').addEventListener('click', () => void wechatLogin());
// The phone (the frame beside) logs in after this page asked: its openid arrives in localStorage.
window.addEventListener('storage', (event) => {
  if (event.key === 'wxauth-demo:phone-openid') void showWechatPerson();
});
$('me').addEventListener('click', () => void callMe());
$('logout').addEventListener('click', async () => {
  await auth.logout().catch(() => undefined);
  $('me-result').textContent = '';
  await showCode();
});

if (auth.session() === null) void showCode();
else void showAccount();
