import { spawn, spawnSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TF_BIN, cleanEnv, runTf, tempApps } from '../helpers/tf.js';

const app = tempApps();

describe('the command line', () => {
  it('tf alone is a usage error: exit 2, usage on stderr, nothing on stdout', async () => {
    const tf = runTf([], { cwd: app({}) });
    const exit = await tf.exited;
    expect(exit.code).toBe(2);
    expect(tf.output()).toBe('');
    expect(tf.stderr()).toMatch(/^Usage: tf COMMAND \[options\]\n/);
  }, 15_000);

  it('tf --help is help: exit 0 on stdout', async () => {
    const tf = runTf(['--help'], { cwd: app({}) });
    expect((await tf.exited).code).toBe(0);
    expect(tf.output()).toMatch(/^Usage: tf COMMAND \[options\]\n/);
    expect(tf.stderr()).toBe('');
  }, 15_000);

  it('tf run --help and tf check --help list only their own options', async () => {
    const run = runTf(['run', '--help'], { cwd: app({}) });
    const check = runTf(['check', '--help'], { cwd: app({}) });
    expect((await run.exited).code).toBe(0);
    expect((await check.exited).code).toBe(0);
    expect(run.output()).toMatch(/^Usage: tf run /);
    // The service options are listed for run --with only.
    const serviceOptions = run
      .output()
      .split('\n')
      .filter((l) => /^ {2}(-\w, | {4})--(formation|timeout|json|color|timestamp)\b/.test(l));
    expect(serviceOptions).toHaveLength(5);
    for (const line of serviceOptions) expect(line).toContain('(with --with)');
    expect(run.output()).not.toMatch(/--socket|--follow/);
    expect(check.output()).toMatch(/--formation/);
    expect(check.output()).not.toMatch(/--json|--color|--timestamp|--split-stderr/);
  }, 15_000);

  it('an option of another command is refused in one line, exit 2, before anything runs', async () => {
    const dir = app({ Procfile: 'web: echo hi\n' });
    const tf = runTf(['run', '--formation', 'web=2', 'echo', 'ran'], { cwd: dir });
    const exit = await tf.exited;
    expect(exit.code).toBe(2);
    expect(tf.output()).toBe('');
    expect(tf.stderr()).toBe('tf: --formation applies to "tf run" only with --with; it shapes the services --with starts; a plain tf run starts none\n');
  }, 15_000);

  it("says an unknown option in tf's words, with a guess", async () => {
    const tf = runTf(['start', '--formaton', 'web=2'], { cwd: app({ Procfile: 'web: echo hi\n' }) });
    expect((await tf.exited).code).toBe(2);
    expect(tf.stderr()).toBe('tf: unknown option \'--formaton\'; did you mean --formation? see "tf --help"\n');
  }, 15_000);

  it('--no-json undoes TF_JSON=1 and --timestamp undoes TF_TIMESTAMP=0', async () => {
    const dir = app({ Procfile: 'web: echo hi\n' });
    const text = runTf(['start', '--no-json', '--timestamp'], { cwd: dir, env: { TF_JSON: '1', TF_TIMESTAMP: '0' } });
    expect((await text.exited).code).toBe(0);
    expect(text.output()).toMatch(/^\d\d:\d\d:\d\d web\.1 +\| hi$/m);
    expect(text.output()).not.toMatch(/^\{/m);
  }, 15_000);

  it('drains stdout before exiting, however slowly the pipe is read', async () => {
    // Far more than a pipe holds: tf's last writes wait in Node until the reader takes them.
    const dir = app({ Procfile: 'web: echo hi\n' });
    const child = spawn(process.execPath, [TF_BIN, 'check', '-m', 'web=20000'], {
      cwd: dir,
      env: cleanEnv({ TF_LOG: 'debug' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pause();
    let stderr = '';
    child.stderr.setEncoding('utf8');
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // The reader starts only once tf is done writing: waiting for the pipe, or (the bug) gone.
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (d: string) => {
        stderr += d;
        if (stderr.includes('tf: debug: waiting for stdout')) resolve();
      });
      void exited.then(() => resolve());
    });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stdout.resume();
    await new Promise((resolve) => child.stdout.on('end', resolve));
    expect(await exited).toBe(0);
    const lines = Buffer.concat(chunks).toString('utf8').split('\n');
    expect(lines.filter((l) => /^ {2}web\.\d+ /.test(l))).toHaveLength(20_000);
    // Ports other programs hold on this machine may add warnings; the last line is what counts.
    expect(lines.at(-2)).toMatch(/^ok(, with \d+ warnings?)?$/);
    expect(stderr).toMatch(/^tf: debug: waiting for stdout to take \d+ more bytes\n$/);
  }, 30_000);

  it.skipIf(process.getuid?.() !== 0 || spawnSync('setpriv', ['--help']).status !== 0)(
    'does not call a privileged port busy when it may not bind it (run as nobody)',
    () => {
      const dir = app({ Procfile: 'web: echo hi\n' });
      chmodSync(dir, 0o755);
      chmodSync(path.join(dir, 'Procfile'), 0o644);
      const run = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, TF_BIN, 'check', '-p', '80'], {
        cwd: dir,
        env: cleanEnv(),
        encoding: 'utf8',
        timeout: 15_000,
      });
      expect(run.status, run.stderr).toBe(0);
      expect(run.stdout).toContain('warning: port 80 for web.1 not checked: it is a privileged port that tf may not bind (EACCES)');
      expect(run.stdout).not.toContain('in use');
    },
    20_000,
  );
});
