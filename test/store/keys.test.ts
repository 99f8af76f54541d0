import { expect } from 'chai';
import { APP_KEY_LAYOUT, appKeys, USER_KEY_LAYOUT, userKeys } from '../../src/store/keys.js';

describe('Redis key layout', () => {
  // The tables name keys with the default prefix and placeholders; the builders must agree with them.
  it('names each user key as the builder does', () => {
    const keys = userKeys('wxauth:', 'openid');
    expect({
      user: keys.user,
      family: keys.family('<family>'),
      sessions: keys.sessions,
      revoked: keys.revoked,
      ban: keys.ban,
    }).to.deep.equal(Object.fromEntries(Object.entries(USER_KEY_LAYOUT).map(([name, k]) => [name, k.key])));
  });

  it('names each app key as the builder does, and its channels after their keys', () => {
    const keys = appKeys('wxauth:');
    expect({
      wechatAccessToken: keys.wechatAccessToken,
      lock: keys.lock('wechat-access-token'),
      loginCode: keys.loginCode('<sha256 of the code>'),
      probe: keys.probe,
      webLogin: keys.webLogin('<ticket>'),
      revocationLog: keys.revocationLog,
      authorizationRequest: keys.authorizationRequest('<sha256 of the state>'),
      authorizationCode: keys.authorizationCode('<sha256 of the code>'),
    }).to.deep.equal(
      Object.fromEntries(
        Object.entries(APP_KEY_LAYOUT)
          .filter(([name]) => name !== 'rateLimit')
          .map(([name, k]) => [name, k.key]),
      ),
    );
    expect(APP_KEY_LAYOUT.revocationLog.holds).to.contain(`\`${keys.revocationChannel}\``);
    expect(APP_KEY_LAYOUT.webLogin.holds).to.contain(`\`${keys.webLoginChannel}\``);
  });
});
