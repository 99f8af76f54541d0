import { join } from 'node:path';
import { ROOT } from '../lib/spawn.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
function option(name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}
function textOption(name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
}

/** The command line: see the usage in main.ts. */
export const options = {
  quick,
  durationS: option('duration', quick ? 3 : 10),
  connections: option('connections', 32),
  rounds: option('rounds', quick ? 1 : 5),
  records: option('records', quick ? 10_000 : 100_000),
  /** Users whose access tokens the Bearer runs present in turn. */
  users: option('users', 200),
  logLevel: textOption('log-level', 'info'),
  out: textOption('out', join(ROOT, 'bench-results')),
  /** A compiled service to measure (a directory holding server.js) instead of building src. */
  dist: textOption('dist', ''),
  /**
   * Another compiled service (a directory holding server.js, e.g. a build of an older commit) whose
   * /auth/me, login and refresh run in the same rounds, for a before/after on the same machine state.
   */
  compare: textOption('compare', ''),
  /** Write CPU profiles of the measured service (node --cpu-prof) into this directory. */
  profile: textOption('profile', ''),
  /** Only these phases (comma-separated names), e.g. `--only routes,sessions`. */
  only: textOption('only', '')
    .split(',')
    .filter((name) => name !== ''),
};
export type Options = typeof options;
