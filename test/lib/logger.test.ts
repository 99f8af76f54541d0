import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect } from 'chai';
import { ROOT } from '../../scripts/lib/spawn.js';

/**
 * The default destination (stdout, buffered: src/lib/logger.ts) in a process of its own, since it is
 * what a process exit must not cut short: `then` is what the process does right after logging.
 */
function logThen(then: string, lines = 500): Promise<{ stdout: string; code: number | null }> {
  const script = `
    import { createLogger } from ${JSON.stringify(pathToFileURL(join(ROOT, 'src/lib/index.ts')).href)};
    const logger = createLogger({ level: 'info' });
    for (let i = 0; i < ${lines}; i += 1) logger.info({ line: i }, 'numbered');
    ${then}
  `;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout) => resolve({ stdout, code: error ? ((error as { code?: number }).code ?? null) : 0 }),
    );
  });
}

/**
 * As logThen, but stdout is a non-blocking pipe (the process touches process.stdout, as the server
 * does) that nobody reads for `stallMs`: a write that does not fit comes back EAGAIN.
 */
function logThenWithStalledReader(
  then: string,
  lines: number,
  stallMs: number,
): Promise<{ stdout: string; code: number | null }> {
  const script = `
    import { createLogger } from ${JSON.stringify(pathToFileURL(join(ROOT, 'src/lib/index.ts')).href)};
    void process.stdout.writable;
    const logger = createLogger({ level: 'info' });
    for (let i = 0; i < ${lines}; i += 1) logger.info({ line: i }, 'numbered');
    ${then}
  `;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const chunks: Buffer[] = [];
    child.stdout.pause();
    setTimeout(() => {
      child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
      child.stdout.resume();
    }, stallMs);
    child.on('close', (code) => resolve({ stdout: Buffer.concat(chunks).toString('utf8'), code }));
  });
}

function numbered(stdout: string): number[] {
  return stdout
    .split('\n')
    .filter((line) => line.includes('"numbered"'))
    .map((line) => (JSON.parse(line) as { line: number }).line);
}

describe('the log destination (stdout, buffered)', function () {
  this.timeout(30_000);
  const all = Array.from({ length: 500 }, (_, i) => i);

  it('writes every line, in order, once the process has nothing left to do', async () => {
    const { stdout, code } = await logThen('');
    expect(code).to.equal(0);
    expect(numbered(stdout)).to.deep.equal(all);
  });

  it('writes the lines logged in the same turn as a process.exit()', async () => {
    const { stdout, code } = await logThen('process.exit(3);');
    expect(code).to.equal(3);
    expect(numbered(stdout)).to.deep.equal(all);
  });

  it('writes the lines logged just before an uncaught exception ends the process', async () => {
    const { stdout, code } = await logThen("throw new Error('boom');");
    expect(code).to.equal(1);
    expect(numbered(stdout)).to.deep.equal(all);
  });

  it('writes the lines of its last turn before a process.exit() even while its reader is stalled (a full, non-blocking pipe)', async () => {
    const { stdout, code } = await logThenWithStalledReader('process.exit(3);', 5000, 700);
    expect(code).to.equal(3);
    expect(numbered(stdout)).to.deep.equal(Array.from({ length: 5000 }, (_, i) => i));
  });

  it('writes every line of a long run logged a turn at a time, with no line cut or joined to another', async () => {
    const { stdout, code } = await logThen(
      `for (let t = 0; t < 200; t += 1) { await new Promise((r) => setImmediate(r)); for (let i = 0; i < 50; i += 1) logger.info({ line: 500 + t * 50 + i }, 'numbered'); }`,
    );
    expect(code).to.equal(0);
    expect(numbered(stdout)).to.deep.equal(Array.from({ length: 10_500 }, (_, i) => i));
  });
});
