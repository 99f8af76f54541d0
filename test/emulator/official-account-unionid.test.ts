import { expect } from 'chai';
import { createEmulator, type EmulatedApp, type Emulator, zeroConfigApps } from '../../src/emulator/index.js';

/**
 * WeChat's sns/oauth2/access_token documents `unionid` as "只有当scope为snsapi_userinfo时返回"
 * (developers.weixin.qq.com/doc/service/api/webdev/access/api_snsaccesstoken.html): a silent
 * snsapi_base login of an official account is not linked to its person.
 */
describe("the emulator's sns/oauth2/access_token for an official account", () => {
  let emulator: Emulator;
  let account: EmulatedApp;
  beforeEach(async () => {
    emulator = createEmulator({ apps: zeroConfigApps() });
    account = emulator.apps.find((app) => app.kind === 'official_account')!;
    await emulator.listen(0);
  });
  afterEach(() => emulator.close());

  it("gives no unionid for an official account's snsapi_base code, as WeChat documents", async () => {
    const person = emulator.createUser({ unionid: true });
    const { location } = emulator.authorize({
      appid: account.appid,
      redirectUri: 'https://auth.example.com/oauth/callback',
      state: 's',
      scope: 'snsapi_base',
      openid: person.openid,
      decision: 'allow',
    });
    const code = new URL(location).searchParams.get('code')!;
    const query = new URLSearchParams({
      appid: account.appid,
      secret: account.secret,
      code,
      grant_type: 'authorization_code',
    });
    const body = (await (await fetch(`${emulator.url}/sns/oauth2/access_token?${query}`)).json()) as Record<
      string,
      unknown
    >;
    expect(body.scope).to.equal('snsapi_base');
    expect(body).to.not.have.property('unionid');
  });
});
