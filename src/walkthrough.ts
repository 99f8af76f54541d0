/**
 * The copy-paste tour `npm start` prints in zero-config mode. It uses only curl and node, so it works
 * as printed on a fresh machine; a test runs it through bash.
 */
export function walkthrough(serviceUrl: string, emulatorUrl: string): string {
  const post = (path: string, body: string, auth = '') =>
    `curl -s -X POST ${serviceUrl}${path} -H 'Content-Type: application/json'${auth} -d ${body}`;
  const bearer = ` -H "Authorization: Bearer $AT"`;
  return `
wxauth is listening on ${serviceUrl}, with the built-in WeChat emulator on ${emulatorUrl}.

Open ${serviceUrl}/demo in a browser: a website's login page shows a mini-program code, and a phone
beside it (the emulator's WeChat) scans it and confirms; the website is then logged in as that user.

Or try the mini-program's flow: paste these lines into a shell (they need curl and node).

json() { node -pe "JSON.parse(require('fs').readFileSync(0, 'utf8'))['$1']"; }

# 1. On the phone, wx.login() gives a one-time code (here the emulator plays WeChat):
CODE=$(curl -s -X POST ${emulatorUrl}/__emulator/login | json code)

# 2. The mini-program posts it to wxauth: tokens back, the session_key stays on the server.
TOKENS=$(${post('/auth/login', '"{\\"code\\":\\"$CODE\\"}"')}); echo "$TOKENS"
AT=$(echo "$TOKENS" | json access_token); RT=$(echo "$TOKENS" | json refresh_token)

# 3. A protected route, verified from the JWT alone:
curl -s ${serviceUrl}/auth/me${bearer}; echo

# 4. Weeks later, no new wx.login(): rotate the refresh token.
TOKENS=$(${post('/auth/refresh', '"{\\"refresh_token\\":\\"$RT\\"}"')}); echo "$TOKENS"
AT=$(echo "$TOKENS" | json access_token)

# 5. Presenting the old refresh token again after ${'$'}REFRESH_REUSE_GRACE seconds would revoke the login.
#    Log out of every session (204):
${post('/auth/logout', '\'{"all":true}\'', bearer)} -o /dev/null -w '%{http_code}\\n'
`;
}
