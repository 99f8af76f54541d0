import { expect } from 'chai';
import { ConfigError, loadConfig } from '../../src/config/index.js';

/** The one-line ConfigError that `env` stops start-up with; fails the test when it is accepted. */
export function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('loadConfig accepted the settings');
}
