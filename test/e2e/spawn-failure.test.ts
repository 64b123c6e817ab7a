import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { TF_BIN, cleanEnv, runTf, tempApps } from '../helpers/tf.js';

const app = tempApps();

describe.skipIf(process.platform !== 'linux')('tf start: too few file descriptors', () => {
  it('says so in one line naming the limit and the fix, exits 1 and starts nothing', () => {
    const dir = app({ Procfile: 'p: exec sleep 30\n' });
    // The shell lowers the limit on open files, then becomes tf.
    const run = spawnSync('/bin/sh', ['-c', 'ulimit -n 512 && exec "$0" "$@"', process.execPath, TF_BIN, 'start', '-m', 'all=400'], {
      cwd: dir,
      env: cleanEnv(),
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(run.stdout).not.toMatch(/started/);
    expect(run.stderr).toMatch(/^tf: too many open files: 400 instances need about \d+ descriptors, the limit is 512 \(ulimit -n\); raise it or run fewer\n$/);
    expect(run.status).toBe(1);
  }, 20_000);
});

describe('tf start: a value that cannot reach a process', () => {
  it('names the variable holding a NUL byte, never its value, in text and JSON, and exits 1', async () => {
    const dir = app({ Procfile: 'web: echo hi\n', '.env': 'TOKEN=s3cr\0et\n' });
    for (const args of [
      ['start', '--no-color'],
      ['start', '--json'],
    ]) {
      const tf = runTf(args, { cwd: dir });
      const exit = await tf.exited;
      const all = `${tf.output()}${tf.stderr()}`;
      expect(exit.code, all).toBe(1);
      expect(all).toMatch(/TOKEN/);
      expect(all).not.toMatch(/s3cr|et\\u0000|Received/);
      expect(all).not.toMatch(/started \(pid|"event":"spawned"/);
    }
  }, 20_000);
});

describe('tf start: a spawn that fails during start-up', () => {
  it('stops everything and exits 1 even when the type may die', async () => {
    // The missing working directory fails the spawn asynchronously (the child's error event).
    const dir = app({ Procfile: 'setup: echo hi\nweb: sleep 30\n' });
    const tf = runTf(['start', '--no-color', '-f', 'Procfile', '-d', './nonexistent', '--can-die', 'setup'], { cwd: dir });
    const exit = await tf.exited;
    expect(tf.output()).toMatch(/setup\.1 failed to start/);
    expect(tf.output()).not.toMatch(/web\.1 started/);
    expect(exit.code, tf.output()).toBe(1);
  }, 20_000);
});
