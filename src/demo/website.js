// The website's login page: the browser SDK shows a mini-program code, waits for the phone, then holds
// the session of this browser and calls the service with it.
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
$('me').addEventListener('click', () => void callMe());
$('logout').addEventListener('click', async () => {
  await auth.logout().catch(() => undefined);
  $('me-result').textContent = '';
  await showCode();
});

if (auth.session() === null) void showCode();
else void showAccount();
