import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { type Config, ConfigError, loadConfig } from './load.js';

/**
 * The settings of this process: `.env` in the working directory, overridden by the environment, then by
 * `overrides` (what only the process knows, such as the port PORT=0 was given). A bad or missing
 * setting ends the process with one line naming it (exit 1), as every entry point must.
 */
export function loadProcessConfig(overrides: Record<string, string> = {}): Config {
  const fileEnv = existsSync('.env')
    ? (parseEnv(readFileSync('.env', 'utf8')) as Record<string, string>)
    : {};
  try {
    return loadConfig({ ...fileEnv, ...process.env, ...overrides });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`wxauth: cannot start: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}
