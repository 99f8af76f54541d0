import { execFile } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';

const root = new URL('../..', import.meta.url).pathname;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** npm run keys, as an operator runs it, from the repository root: its exit code and output. */
function keysScript(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'scripts/gen-keys.ts', ...args],
      { cwd: root },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
    );
  });
}

function git(cwd: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile('git', args, { cwd }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
    );
  });
}

/** A new git work tree in a temp folder, with `ignore` as its .gitignore. */
async function repository(ignore = ''): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'wxauth-repo-'));
  expect((await git(dir, 'init', '-q')).code).to.equal(0);
  if (ignore) writeFileSync(join(dir, '.gitignore'), ignore);
  return dir;
}

const mode = (file: string) => statSync(file).mode & 0o777;

describe('npm run keys: private keys go nowhere a commit picks up', function () {
  this.timeout(30_000);

  it('refuses, exit 2 and one line saying what to do, to write a new key into a git work tree that does not ignore it', async () => {
    const repo = await repository();
    const file = join(repo, 'keys.json');
    const run = await keysScript(file);
    expect(run.code).to.equal(2);
    const lines = run.stderr.trim().split('\n');
    expect(lines, run.stderr).to.have.length(1);
    expect(lines[0]).to.contain(file).and.contain('.gitignore').and.contain('outside');
    expect(existsSync(file), 'a key was written').to.equal(false);
    expect((await git(repo, 'status', '--porcelain')).stdout).to.equal('');
  });

  it('refuses a rotation step on a key file git would commit, and leaves the file as it was', async () => {
    const outside = mkdtempSync(join(tmpdir(), 'wxauth-keys-'));
    expect((await keysScript(join(outside, 'keys.json'))).code).to.equal(0);
    const repo = await repository();
    const file = join(repo, 'keys.json');
    copyFileSync(join(outside, 'keys.json'), file);
    const before = readFileSync(file, 'utf8');
    for (const step of [['--next'], ['--promote']]) {
      const run = await keysScript(file, ...step);
      expect(run.code, step[0]).to.equal(2);
      expect(run.stderr.trim().split('\n'), run.stderr).to.have.length(1);
    }
    expect(readFileSync(file, 'utf8')).to.equal(before);
    // Listing writes nothing: allowed.
    expect((await keysScript(file, '--list')).code).to.equal(0);
  });

  it('writes the key with mode 0600 where git ignores it (a secrets/ folder it creates) and outside any work tree', async () => {
    const repo = await repository('secrets/\n');
    const ignored = join(repo, 'secrets', 'keys.json');
    const run = await keysScript(ignored);
    expect(run.code, run.stderr).to.equal(0);
    expect(mode(ignored)).to.equal(0o600);
    expect((await git(repo, 'status', '--porcelain')).stdout).to.equal('?? .gitignore\n');

    const outside = join(mkdtempSync(join(tmpdir(), 'wxauth-keys-')), 'keys.json');
    expect((await keysScript(outside)).code).to.equal(0);
    expect(mode(outside)).to.equal(0o600);
    // A file someone made readable by others is 0600 again after a step rewrites it.
    chmodSync(outside, 0o644);
    expect((await keysScript(outside, '--next')).code).to.equal(0);
    expect(mode(outside)).to.equal(0o600);
  });

  it("the repository's .gitignore ignores the key files the README names, a secrets/ folder and packed tarballs", async () => {
    // In a repository of its own with this one's .gitignore, so it holds wherever the suite runs.
    const repo = await repository(readFileSync(join(root, '.gitignore'), 'utf8'));
    for (const path of ['keys.json', 'secrets/keys.json', 'secrets/anything', 'wxauth-verifier-0.1.0.tgz']) {
      expect((await git(repo, 'check-ignore', '-q', path)).code, path).to.equal(0);
    }
    expect((await git(repo, 'check-ignore', '-q', 'src/server.ts')).code).to.equal(1);
  });
});
