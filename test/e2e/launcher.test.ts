import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TF_BIN, cleanEnv, tempApps } from '../helpers/tf.js';

const app = tempApps();
const HOME = path.resolve(path.dirname(TF_BIN), '..');

/** A copy of the launcher and the bundles in `dir` (bin/, dist/: the CLI's and each command's). */
function copyBuild(dir: string): string {
  mkdirSync(path.join(dir, 'bin'), { recursive: true });
  const bin = path.join(dir, 'bin', 'tf.cjs');
  copyFileSync(TF_BIN, bin);
  cpSync(path.join(HOME, 'dist'), path.join(dir, 'dist'), { recursive: true });
  return bin;
}

describe('the launcher', () => {
  it('runs the bundle next to it', () => {
    const dir = app({ 'app/Procfile': 'a: echo hi\n' });
    const bin = copyBuild(dir);
    const run = spawnSync(process.execPath, [bin, 'start'], {
      cwd: path.join(dir, 'app'),
      env: cleanEnv(),
      encoding: 'utf8',
      timeout: 15_000,
      killSignal: 'SIGKILL',
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/a\.1 +\| hi\n/);
    expect(run.stderr).toBe('');
  }, 20_000);

  it("turns on Node's compile cache where this Node has one, and runs without it where not", () => {
    const dir = app({});
    // Node 20 has no module.enableCompileCache: the stub stands for a Node that has it.
    writeFileSync(path.join(dir, 'stub.cjs'), "require('node:module').enableCompileCache = () => process.stderr.write('compile cache on\\n');\n");
    const withCache = spawnSync(process.execPath, ['-r', path.join(dir, 'stub.cjs'), TF_BIN, '--version'], {
      env: cleanEnv(),
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(withCache.status, withCache.stderr).toBe(0);
    expect(withCache.stderr).toBe('compile cache on\n');
    expect(withCache.stdout).toMatch(/^tf \d+\.\d+\.\d+\n$/);
    writeFileSync(path.join(dir, 'absent.cjs'), "delete require('node:module').enableCompileCache;\n");
    const without = spawnSync(process.execPath, ['-r', path.join(dir, 'absent.cjs'), TF_BIN, '--version'], {
      env: cleanEnv(),
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(without.status, without.stderr).toBe(0);
    expect(without.stderr).toBe('');
    expect(without.stdout).toMatch(/^tf \d+\.\d+\.\d+\n$/);
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
});

describe('installing and packing', () => {
  const pkg = JSON.parse(readFileSync(path.join(HOME, 'package.json'), 'utf8')) as { scripts: Record<string, string>; files: string[] };

  it('gives an installed package no install script, so installing a tarball runs nothing and warns of nothing', () => {
    // npm runs these four for a dependency (and lists them as scripts to allow); a clone's
    // `npm ci` runs postprepare too, which builds.
    for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) expect(pkg.scripts[hook], hook).toBeUndefined();
    expect(pkg.scripts.postprepare).toBe('npm run build');
    expect(pkg.scripts.prepack).toBe('npm run build');
    expect(pkg.files).toEqual(['bin', 'dist']);
  });

  it('builds without running tf', () => {
    // The build is esbuild alone: no step of it starts the program it builds.
    expect(pkg.scripts.build).toMatch(/^rm -rf dist && esbuild /);
    expect(pkg.scripts.build).not.toMatch(/&& *node |bin\/|code-cache|--alias/);
  });
});
