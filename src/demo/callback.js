// The redirect URI of the demo's official account and website (/demo/oauth/callback): the browser SDK
// checks the state, redeems the code with its PKCE verifier, checks the ID token, keeps the session,
// and the page goes back to where the sign-in started.
import { createWebAuth } from '/demo/sdk/browser/index.js';

const RETURN_KEY = 'wxauth-demo:return-to';
const $ = (id) => document.getElementById(id);

/** Only the demo's own pages: the value comes from this tab's storage, but a path is all it may be. */
function returnTo() {
  const path = sessionStorage.getItem(RETURN_KEY);
  sessionStorage.removeItem(RETURN_KEY);
  return path === '/demo/h5' ? '/demo/h5' : '/demo';
}

const back = returnTo();
$('back').href = back;
// The official account's page keeps its session apart from the website's (one tab may show both).
const storageKey = back === '/demo/h5' ? 'wxauth-demo:h5-session' : undefined;
try {
  await createWebAuth({ baseUrl: window.location.origin, storageKey }).handleRedirectCallback();
  // replace(): the callback's URL, with its used code, leaves the history.
  window.location.replace(back);
} catch (error) {
  $('callback-status').textContent = 'The sign-in did not complete.';
  $('callback-error').textContent = `${error.code}: ${error.message}`;
  $('callback-error').hidden = false;
  $('back').hidden = false;
}
