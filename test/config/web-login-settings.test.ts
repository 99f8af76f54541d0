import { expect } from 'chai';
import { ConfigError, loadConfig } from '../../src/config/index.js';

describe('configuration: web login by scanning a mini-program code', () => {
  it('opens pages/qr-login/index of the released mini-program, for tickets of 120 s, 10 a minute per address', () => {
    const config = loadConfig({});
    expect(config.webLogin).to.deep.equal({ page: 'pages/qr-login/index', ttlS: 120, envVersion: 'release' });
    expect(config.rateLimits.qrPerIp).to.deep.equal({ points: 10, seconds: 60 });
    expect(config.rateLimits.qrPerApp).to.deep.equal({ points: 600, seconds: 60 });
  });

  it('takes the page, the lifetime, the version of the mini-program and the limit it is given', () => {
    const config = loadConfig({
      QR_LOGIN_PAGE: 'pages/login/scan',
      QR_LOGIN_TTL: '300',
      QR_LOGIN_ENV_VERSION: 'develop',
      RATE_LIMIT_QR_PER_IP: '0',
      RATE_LIMIT_QR_PER_APP: '100/10',
    });
    expect(config.webLogin).to.deep.equal({ page: 'pages/login/scan', ttlS: 300, envVersion: 'develop' });
    expect(config.rateLimits.qrPerIp).to.equal(undefined);
    expect(config.rateLimits.qrPerApp).to.deep.equal({ points: 100, seconds: 10 });
  });

  const refused: Array<[string, string]> = [
    ['QR_LOGIN_PAGE', '/pages/login/scan'],
    ['QR_LOGIN_PAGE', 'pages/login/scan?x=1'],
    ['QR_LOGIN_TTL', '10'],
    ['QR_LOGIN_TTL', '86400'],
    ['QR_LOGIN_ENV_VERSION', 'beta'],
    ['RATE_LIMIT_QR_PER_IP', '10'],
    ['RATE_LIMIT_QR_PER_APP', 'many'],
  ];
  for (const [name, value] of refused) {
    it(`refuses ${name}=${value}, naming the setting`, () => {
      expect(() => loadConfig({ [name]: value }))
        .to.throw(ConfigError)
        .with.property('message')
        .that.contains(name);
    });
  }
});
