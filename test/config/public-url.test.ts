import { expect } from 'chai';
import { loadConfig } from '../../src/config/index.js';
import { PRODUCTION_WITHOUT_URL, refusal } from '../helpers/config.js';

const PRODUCTION = PRODUCTION_WITHOUT_URL;

describe('configuration: PUBLIC_URL and the issuer', () => {
  it('defaults PUBLIC_URL to http://localhost:<PORT> and the issuer to PUBLIC_URL', () => {
    expect(loadConfig({}).publicUrl).to.equal('http://localhost:3000');
    const config = loadConfig({ PORT: '8080' });
    expect(config.publicUrl).to.equal('http://localhost:8080');
    expect(config.tokens.issuer).to.equal('http://localhost:8080');
    expect(config.tokens.audience).to.equal('wxauth');
  });

  it('takes the issuer from PUBLIC_URL, without a trailing slash, unless JWT_ISSUER is set', () => {
    const config = loadConfig({ PUBLIC_URL: 'https://auth.example.com/' });
    expect(config.publicUrl).to.equal('https://auth.example.com');
    expect(config.tokens.issuer).to.equal('https://auth.example.com');
    const own = loadConfig({ PUBLIC_URL: 'https://auth.example.com', JWT_ISSUER: 'urn:example:wxauth' });
    expect(own.publicUrl).to.equal('https://auth.example.com');
    expect(own.tokens.issuer).to.equal('urn:example:wxauth');
  });

  it('requires PUBLIC_URL in production, and https there', () => {
    expect(refusal(PRODUCTION)).to.contain('PUBLIC_URL');
    expect(refusal({ ...PRODUCTION, PUBLIC_URL: 'http://auth.example.com' })).to.match(/PUBLIC_URL.*https/);
    const config = loadConfig({ ...PRODUCTION, PUBLIC_URL: 'https://auth.example.com' });
    expect(config.tokens.issuer).to.equal('https://auth.example.com');
  });

  it('refuses a PUBLIC_URL that is not an http(s) URL, or carries a query or fragment', () => {
    for (const bad of [
      'auth.example.com',
      'ftp://auth.example.com',
      'https://a.example/?x=1',
      'https://a.example/#f',
    ])
      expect(refusal({ PUBLIC_URL: bad })).to.contain('PUBLIC_URL');
  });
});
