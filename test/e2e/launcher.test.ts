import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TF_BIN, cleanEnv, tempApps } from '../helpers/tf.js';

const app = tempApps();
const HOME = path.resolve(path.dirname(TF_BIN), '..');

/** A copy of the launcher and the build in `dir` (bin/, dist/), to edit without touching the real one. */
function copyBuild(dir: string): { bin: string; bundle: string; cache: string } {
  for (const sub of ['bin', 'dist']) mkdirSync(path.join(dir, sub), { recursive: true });
  const bin = path.join(dir, 'bin', 'tf.cjs');
  const bundle = path.join(dir, 'dist', 'tf.cjs');
  const cache = path.join(dir, 'dist', 'tf.code-cache');
  copyFileSync(TF_BIN, bin);
  copyFileSync(path.join(HOME, 'dist', 'tf.cjs'), bundle);
  copyFileSync(path.join(HOME, 'dist', 'tf.code-cache'), cache);
  return { bin, bundle, cache };
}

/** `tf start` through the given launcher on a Procfile whose one process prints and exits, so tf exits too. */
function startOnce(bin: string, cwd: string, env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [bin, 'start'], { cwd, env: cleanEnv(env), encoding: 'utf8', timeout: 15_000, killSignal: 'SIGKILL' });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

const ago = (seconds: number): Date => new Date(Date.now() - seconds * 1000);

describe('the launcher and its code cache', () => {
  it('the build leaves a cache that V8 accepts, holding what a run compiled, not only the top level', () => {
    // In a node of its own: V8 rejects a cache made under other flags, and vitest's may differ.
    const probe = `
      const fs = require('node:fs');
      const launcher = require(${JSON.stringify(TF_BIN)});
      const script = launcher.compileBundle(true);
      // A cache taken before anything ran: the top level only.
      const topLevel = launcher.compileBundle(false).createCachedData();
      console.log(JSON.stringify({ rejected: script.cachedDataRejected, cache: fs.statSync(launcher.CODE_CACHE).size, topLevel: topLevel.length }));`;
    const run = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', timeout: 15_000 });
    expect(run.status, run.stderr).toBe(0);
    const facts = JSON.parse(run.stdout) as { rejected: boolean | undefined; cache: number; topLevel: number };
    expect(facts.rejected).toBe(false);
    expect(facts.cache).toBeGreaterThan(2 * facts.topLevel);
    const told = spawnSync(process.execPath, [TF_BIN, '--version'], { env: cleanEnv({ TF_LOG: 'debug' }), encoding: 'utf8', timeout: 15_000 });
    expect(told.stderr).toBe(`tf: debug: compiled from ${path.join(HOME, 'dist', 'tf.code-cache')}\n`);
  }, 20_000);

  it('does not run stale code from a cache older than the bundle', () => {
    const dir = app({ 'app/Procfile': 'a: echo hi\n' });
    const { bin, bundle, cache } = copyBuild(dir);
    // An edit of the same length: V8 checks only the length, so without the age check it would
    // run the cached (old) code of the notice.
    const source = readFileSync(bundle, 'utf8');
    expect(source).toContain('started (pid');
    writeFileSync(bundle, source.replace('started (pid', 'STARTED (pid'));
    utimesSync(cache, ago(60), ago(60));
    const run = startOnce(bin, path.join(dir, 'app'));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/a\.1 +STARTED \(pid \d+/);
    expect(run.stdout).toMatch(/a\.1 +\| hi\n/);
  }, 20_000);

  it('says in one line how to build when the bundle is missing', () => {
    const dir = app({});
    mkdirSync(path.join(dir, 'bin'));
    copyFileSync(TF_BIN, path.join(dir, 'bin', 'tf.cjs'));
    const run = spawnSync(process.execPath, [path.join(dir, 'bin', 'tf.cjs'), '--version'], { cwd: dir, encoding: 'utf8', timeout: 15_000 });
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`tf: ${path.join(dir, 'dist', 'tf.cjs')} is missing; build it with "npm run build" (npm ci runs it)\n`);
  }, 20_000);

  it('runs tf as usual when the cache is corrupt, empty or missing', () => {
    const dir = app({ 'app/Procfile': 'a: echo hi\n' });
    const { bin, bundle, cache } = copyBuild(dir);
    writeFileSync(cache, Buffer.alloc(4096, 0x5a));
    utimesSync(bundle, ago(60), ago(60));
    const corrupt = startOnce(bin, path.join(dir, 'app'));
    expect(corrupt.code, corrupt.stderr).toBe(0);
    expect(corrupt.stdout).toMatch(/a\.1 +\| hi\n/);
    expect(corrupt.stderr).toBe('');
    const told = startOnce(bin, path.join(dir, 'app'), { TF_LOG: 'debug' });
    expect(told.stderr).toBe(`tf: debug: V8 rejected ${cache} (made by another Node or under other V8 flags); compiled without it\n`);

    writeFileSync(cache, '');
    const empty = startOnce(bin, path.join(dir, 'app'));
    expect(empty.code, empty.stderr).toBe(0);
    expect(empty.stdout).toMatch(/a\.1 +\| hi\n/);

    rmSync(cache);
    const missing = startOnce(bin, path.join(dir, 'app'), { TF_LOG: 'debug' });
    expect(missing.code, missing.stderr).toBe(0);
    expect(missing.stdout).toMatch(/a\.1 +\| hi\n/);
    expect(missing.stderr).toBe(`tf: debug: no usable ${cache} (missing, or older than the bundle); compiled without it\n`);
  }, 20_000);
});
