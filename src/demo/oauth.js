// What the website page and the official account's page share for the sign-in by redirect.

const PHONE_OPENID_KEY = 'wxauth-demo:phone-openid';
const RETURN_KEY = 'wxauth-demo:return-to';

/**
 * The phone's person's openid in the browser app `appid`, for the person to pick on WeChat's page (the
 * emulator's pages list people by that openid); undefined before the phone logged in.
 */
export async function identity(appid) {
  const phone = localStorage.getItem(PHONE_OPENID_KEY);
  if (phone === null) return undefined;
  const response = await fetch(`/demo/wx/identity?openid=${encodeURIComponent(phone)}`);
  if (response.status !== 200) return undefined;
  return (await response.json()).openids[appid];
}

/** To WeChat's page by /oauth/authorize; /demo/oauth/callback comes back to `returnTo`. */
export async function signInWith(auth, clientId, returnTo, scope) {
  sessionStorage.setItem(RETURN_KEY, returnTo);
  await auth.loginWithRedirect({
    clientId,
    redirectUri: `${window.location.origin}/demo/oauth/callback`,
    ...(scope === undefined ? {} : { scope }),
  });
}

/** GET /auth/sessions into the list: the person's sessions in every app, this browser's marked. */
export async function listSessions(auth, list) {
  const response = await auth.fetch('/auth/sessions');
  if (response.status !== 200) throw new Error(`GET /auth/sessions answered ${response.status}`);
  const { sessions } = await response.json();
  list.replaceChildren(
    ...sessions.map((session) => {
      const item = document.createElement('li');
      const current = session.current ? ' (this one)' : '';
      item.textContent = `${session.app?.name ?? 'no app'} · ${session.device ?? 'no device given'}${current}`;
      return item;
    }),
  );
}
