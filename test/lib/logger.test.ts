import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect } from 'chai';
import { ROOT } from '../../scripts/lib/spawn.js';

/** What the parent does with the child's stdout: read it at once, after a stall, never, or close it. */
type Reader = { stallMs: number } | 'never' | 'closed';

interface Outcome {
  stdout: string;
  stderr: string;
  code: number | null;
  ms: number;
}

/**
 * The default destination (stdout, buffered: src/lib/logger.ts) in a process of its own, since it is
 * what a process exit must not cut short: it logs `lines` numbered lines, then does `then`. Its stdout
 * is a non-blocking pipe (it touches process.stdout, as the server does), so that a write to a pipe
 * nobody reads comes back EAGAIN.
 */
function logThen(then: string, lines = 500, reader: Reader = { stallMs: 0 }): Promise<Outcome> {
  const script = `
    import { createLogger } from ${JSON.stringify(pathToFileURL(join(ROOT, 'src/lib/index.ts')).href)};
    void process.stdout.writable;
    const logger = createLogger({ level: 'info' });
    for (let i = 0; i < ${lines}; i += 1) logger.info({ line: i }, 'numbered');
    ${then}
  `;
  const startedAt = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    if (reader === 'closed') child.stdout.destroy();
    else {
      child.stdout.pause();
      if (reader !== 'never') {
        setTimeout(() => {
          child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
          child.stdout.resume();
        }, reader.stallMs);
      }
    }
    // 'exit', not 'close': with a reader that never reads, the pipe stays open after the process ends.
    child.on('exit', (code) => {
      // What was read by then, and what is still in the pipe.
      setTimeout(() => {
        resolve({
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          code,
          ms: Date.now() - startedAt,
        });
        child.stdout.destroy();
      }, 200);
    });
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
    const { stdout, code } = await logThen('process.exit(3);', 5000, { stallMs: 700 });
    expect(code).to.equal(3);
    expect(numbered(stdout)).to.deep.equal(Array.from({ length: 5000 }, (_, i) => i));
  });

  it('ends an exit within seconds when nothing ever reads its log, instead of waiting for the reader for ever', async () => {
    const { code, ms } = await logThen(
      'for (let t = 0; t < 50; t += 1) { await new Promise((r) => setImmediate(r)); for (let i = 0; i < 200; i += 1) logger.info({ line: 5000 + t * 200 + i }, "numbered"); } process.exit(3);',
      5000,
      'never',
    );
    expect(code).to.equal(3);
    // Two seconds of patience, plus the process's own start (tsx).
    expect(ms).to.be.lessThan(8000);
  });

  it('keeps the process running when its log reader has gone, and says once on stderr that lines are dropped', async () => {
    const { code, stderr } = await logThen(
      'for (let t = 0; t < 50; t += 1) { await new Promise((r) => setTimeout(r, 2)); for (let i = 0; i < 200; i += 1) logger.info({ line: i }, "numbered"); } process.stderr.write("still running\\n");',
      5000,
      'closed',
    );
    expect(code).to.equal(0);
    expect(stderr.match(/log lines are dropped/g)).to.have.length(1);
    expect(stderr).to.include('still running');
  });

  it('writes every line of a long run logged a turn at a time, with no line cut or joined to another', async () => {
    const { stdout, code } = await logThen(
      `for (let t = 0; t < 200; t += 1) { await new Promise((r) => setImmediate(r)); for (let i = 0; i < 50; i += 1) logger.info({ line: 500 + t * 50 + i }, 'numbered'); }`,
    );
    expect(code).to.equal(0);
    expect(numbered(stdout)).to.deep.equal(Array.from({ length: 10_500 }, (_, i) => i));
  });
});
