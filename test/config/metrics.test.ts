import { expect } from 'chai';
import { loadConfig } from '../../src/config/index.js';
import { PRODUCTION_WITHOUT_URL, refusal } from '../helpers/config.js';

const PRODUCTION = { ...PRODUCTION_WITHOUT_URL, PUBLIC_URL: 'https://auth.example.com' };

describe('configuration: where /metrics is served', () => {
  it('serves /metrics on the public port outside production', () => {
    expect(loadConfig({}).metrics).to.deep.include({ port: undefined, onPublicPort: true });
    expect(loadConfig({ NODE_ENV: 'test' }).metrics.onPublicPort).to.equal(true);
    expect(loadConfig({ METRICS_PUBLIC: '0' }).metrics.onPublicPort).to.equal(false);
  });

  it('keeps /metrics off the public port in production unless METRICS_PUBLIC=1', () => {
    expect(loadConfig(PRODUCTION).metrics.onPublicPort).to.equal(false);
    expect(loadConfig({ ...PRODUCTION, METRICS_PUBLIC: '1' }).metrics.onPublicPort).to.equal(true);
  });

  it('serves /metrics on METRICS_PORT alone when that is set', () => {
    for (const env of [{}, PRODUCTION]) {
      expect(loadConfig({ ...env, METRICS_PORT: '9464' }).metrics).to.deep.include({
        port: 9464,
        onPublicPort: false,
      });
    }
  });

  it('refuses METRICS_PUBLIC=1 beside METRICS_PORT, and any value but 0 or 1', () => {
    expect(refusal({ METRICS_PUBLIC: '1', METRICS_PORT: '9464' })).to.match(/METRICS_PUBLIC.*METRICS_PORT/);
    expect(refusal({ METRICS_PUBLIC: 'true' })).to.match(/^METRICS_PUBLIC is invalid/);
  });
});
