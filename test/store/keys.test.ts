import { expect } from 'chai';
import {
  APP_KEY_LAYOUT,
  appKeys,
  PERSON_KEY_LAYOUT,
  personKeys,
  USER_KEY_LAYOUT,
  userKeys,
} from '../../src/store/keys.js';

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

  it('names each person key as the builder does', () => {
    const keys = personKeys('wxauth:', '<unionid>');
    expect({ identities: keys.identities, ban: keys.ban }).to.deep.equal(
      Object.fromEntries(Object.entries(PERSON_KEY_LAYOUT).map(([name, k]) => [name, k.key])),
    );
  });

  it('names each app key as the builder does, and its channels after their keys', () => {
    const keys = appKeys('wxauth:');
    // The first mini-program's access_token keeps the key it had before several apps; the table says so.
    expect(keys.wechatAccessToken(undefined)).to.equal('wxauth:wechat:at');
    expect(APP_KEY_LAYOUT.wechatAccessToken.holds).to.contain('`wxauth:wechat:at`');
    for (const name of ['wechat-access-token[:<appid>]', 'persons-linking', 'persons-linked'])
      expect(APP_KEY_LAYOUT.lock.holds).to.contain(`\`${name}\``);
    expect({
      wechatAccessToken: keys.wechatAccessToken('<appid>'),
      // Every lock is `lock:<name>`; the table names the locks there are.
      lock: keys.lock('<name>'),
      loginCode: keys.loginCode('<sha256 of the appid and the code>'),
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
