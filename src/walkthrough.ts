/** An app of the emulator, as the walk-through names it. */
export interface WalkthroughApp {
  appid: string;
  kind: string;
  name: string;
}

/**
 * The copy-paste tour `npm start` prints in zero-config mode: one person logging in through the first
 * mini-program and the mobile App (both bound to the emulator's open-platform account), then the
 * person's sessions across both. It uses only curl and node, so it works as printed on a fresh machine;
 * a test runs it through bash. The AppIDs are printed in full: they are new on each start.
 */
export function walkthrough(
  serviceUrl: string,
  emulatorUrl: string,
  apps: readonly WalkthroughApp[],
): string {
  const post = (path: string, body: string, auth = '') =>
    `curl -s -X POST ${serviceUrl}${path} -H 'Content-Type: application/json'${auth} -d ${body}`;
  // The emulator's control surface reads a JSON body whatever its Content-Type (curl -d).
  const emulate = (path: string, body: string) =>
    `curl -s -X POST ${emulatorUrl}/__emulator/${path} -d ${body}`;
  const bearer = ` -H "Authorization: Bearer $AT"`;
  const miniprograms = apps.filter((app) => app.kind === 'miniprogram');
  const shop = miniprograms[0];
  // The mobile App when there is one: a login of another kind (SendAuth, sns/oauth2) than the shop's.
  const other = apps.find((app) => app.kind === 'mobile') ?? miniprograms[1];
  const header = `
wxauth is listening on ${serviceUrl}, with the built-in WeChat emulator on ${emulatorUrl}.

Open ${serviceUrl}/demo in a browser: a website's login page shows a mini-program code, and a phone
beside it (the emulator's WeChat) scans it and confirms; the website is then logged in as that user.
`;
  if (shop === undefined) return header;
  const second =
    other === undefined
      ? ''
      : `
# 6. The same person logs in with the ${other.name} (${other.kind === 'mobile' ? "the WeChat Open SDK's SendAuth" : 'wx.login()'} gives its
#    code): another openid there, the same unionid, so the same person at wxauth.
CODE=$(${emulate('login', `"{\\"openid\\":\\"$OPENID\\",\\"appid\\":\\"$OTHER\\"}"`)} | json code)
OTHER_TOKENS=$(${post('/auth/login', '"{\\"code\\":\\"$CODE\\",\\"appid\\":\\"$OTHER\\"}"')}); echo "$OTHER_TOKENS"

# 7. The person's sessions, one per app, each naming its app:
curl -s ${serviceUrl}/auth/sessions${bearer}; echo
`;
  return `${header}
Or try the flows of the apps: paste these lines into a shell (they need curl and node).

json() { node -pe "JSON.parse(require('fs').readFileSync(0, 'utf8'))['$1']"; }
SHOP=${shop.appid}   # the ${shop.name}'s AppID${other === undefined ? '' : `\nOTHER=${other.appid}  # the ${other.name}'s, bound to the same open-platform account`}

# 1. A WeChat user, with a unionid (the same in every app of the account; an openid of its own in each):
OPENID=$(${emulate('users', `'{"unionid":true}'`)} | json openid)

# 2. In the ${shop.name}, wx.login() gives a one-time code (here the emulator plays WeChat):
CODE=$(${emulate('login', `"{\\"openid\\":\\"$OPENID\\",\\"appid\\":\\"$SHOP\\"}"`)} | json code)

# 3. The mini-program posts it with its AppID (the SDK does): tokens back, the session_key stays on the server.
TOKENS=$(${post('/auth/login', '"{\\"code\\":\\"$CODE\\",\\"appid\\":\\"$SHOP\\"}"')}); echo "$TOKENS"
AT=$(echo "$TOKENS" | json access_token); RT=$(echo "$TOKENS" | json refresh_token)

# 4. A protected route, verified from the JWT alone:
curl -s ${serviceUrl}/auth/me${bearer}; echo

# 5. Weeks later, no new wx.login(): rotate the refresh token.
TOKENS=$(${post('/auth/refresh', '"{\\"refresh_token\\":\\"$RT\\"}"')}); echo "$TOKENS"
AT=$(echo "$TOKENS" | json access_token)
${second}
# ${other === undefined ? 6 : 8}. Presenting the old refresh token again after ${'$'}REFRESH_REUSE_GRACE seconds would revoke the login.
#    Log out of every session of the person, in every app (204):
${post('/auth/logout', '\'{"all":true}\'', bearer)} -o /dev/null -w '%{http_code}\\n'
`;
}
