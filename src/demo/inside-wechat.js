// An official account's page inside WeChat: loginWithRedirect() to the official account's consent page
// (the emulator's), back through /demo/oauth/callback, then the reader's sessions in every app.

import { identity, listSessions, signInWith } from '/demo/assets/oauth.js';
import { createWebAuth } from '/demo/sdk/browser/index.js';

// Its own key: the website page's session, in the same tab, is another one.
const auth = createWebAuth({ baseUrl: window.location.origin, storageKey: 'wxauth-demo:h5-session' });
const $ = (id) => document.getElementById(id);

async function start() {
  try {
    const { apps } = await (await fetch('/demo/wx/apps')).json();
    const account = apps.find((app) => app.kind === 'official_account');
    $('bar').textContent = account.name;
    if (auth.session() !== null) {
      $('h5-account').hidden = false;
      $('h5-openid').textContent = auth.session().openid;
      await listSessions(auth, $('h5-sessions'));
      return;
    }
    $('h5-login').hidden = false;
    const openid = await identity(account.appid);
    $('h5-person').textContent =
      openid === undefined
        ? 'On the consent sheet, pick a person.'
        : `On the consent sheet, pick the phone's person: ${openid} in this official account.`;
    $('h5-signin').addEventListener('click', () =>
      signInWith(auth, account.appid, '/demo/h5', 'snsapi_userinfo').catch(fail),
    );
  } catch (error) {
    fail(error);
  }
}

function fail(error) {
  $('h5-error').textContent = error.message;
  $('h5-error').hidden = false;
}

$('h5-logout').addEventListener('click', async () => {
  await auth.logout().catch(() => undefined);
  window.location.reload();
});

void start();
