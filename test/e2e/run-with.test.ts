import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, TF_BIN, cleanEnv, expectAllDead, fixture, pidsIn, runTf, tempApps } from '../helpers/tf.js';

const app = tempApps();

/** A base port nobody listens on now, so parallel test files do not meet on 5000. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A Procfile whose web is the fixture web server with `webArgs`, plus a worker that gets ready late. */
const procfile = (webArgs = ''): string => `web: ${fixture('web.mjs', webArgs)}\nworker: ${fixture('slow-ready.mjs')}\n`;

/** `tf run --with TYPES [extra] -- node client.mjs CLIENT...` in a fresh app on a free port. */
async function runWith(
  types: string,
  client: readonly string[],
  options: { webArgs?: string; extra?: readonly string[]; files?: Readonly<Record<string, string>> } = {},
) {
  const port = await freePort();
  const dir = app({ Procfile: procfile(options.webArgs), ...options.files });
  const tf = runTf(
    ['run', '--with', types, '-p', String(port), ...(options.extra ?? []), '--', process.execPath, path.join(FIXTURES, 'client.mjs'), ...client],
    { cwd: dir },
  );
  return { tf, port };
}

describe('tf run --with', () => {
  it('starts web, waits until its port answers, runs the command with its PORT, stops web, exits 0', async () => {
    const { tf, port } = await runWith('web', ['/', '0']);
    const exit = await tf.exited;
    const out = tf.output();
    expect(exit.code, out + tf.stderr()).toBe(0);
    expect(out).toContain(`client got: hello from ${port}`);
    expect(out).toMatch(/web\.1 +\| listening on/);
    // tf's notices and the command share stdout: the ready notice comes before what the command prints.
    expect(out.indexOf('web.1 ready')).toBeGreaterThan(-1);
    expect(out.indexOf('web.1 ready')).toBeLessThan(out.indexOf('client got:'));
    // The services stop after the command, gracefully.
    expect(out.indexOf('client got')).toBeLessThan(out.indexOf('stopping all processes (the command exited with code 0)'));
    expect(out).toMatch(/web\.1 +\| got TERM/);
    expect(tf.stderr()).toBe('');
    await expectAllDead(pidsIn(out));
  }, 20_000);

  it('refuses to wait for a web whose port another process already holds: its probe would hear that one', async () => {
    const holder = createServer((socket) => socket.destroy());
    const port = await new Promise<number>((resolve) => holder.listen(0, () => resolve((holder.address() as { port: number }).port)));
    try {
      const dir = app({ Procfile: procfile() });
      const tf = runTf(['run', '--with', 'web', '-p', String(port), '--', 'echo', 'COMMAND RAN'], { cwd: dir });
      const exit = await tf.exited;
      expect(exit.code, tf.output() + tf.stderr()).toBe(1);
      expect(tf.output()).toContain(`port ${port} for web.1 is already in use`);
      expect(tf.stderr()).toBe(
        `tf: web.1 cannot be waited for: port ${port} was in use before it started, so its probe (port ${port}) would hear that process; stop what holds the port, or choose other ports with -p\n`,
      );
      expect(tf.output()).not.toContain('COMMAND RAN');
      expect(tf.output()).not.toContain('started (pid');
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
    }
  }, 20_000);

  it("exits with the command's code and stops the services", async () => {
    const { tf } = await runWith('web', ['/', '3']);
    const exit = await tf.exited;
    expect(exit.code, tf.output() + tf.stderr()).toBe(3);
    expect(tf.output()).toContain('stopping all processes (the command exited with code 3)');
    expect(tf.output()).toMatch(/web\.1 +\| got TERM/);
    await expectAllDead(pidsIn(tf.output()));
  }, 20_000);

  it('gives up on an instance that is never ready: after the stop, one line naming it and the probe, then its last lines up to its exit, exit 1', async () => {
    const { tf, port } = await runWith('web', ['/', '0'], { webArgs: '--no-listen', extra: ['--wait-timeout', '0.5'] });
    const exit = await tf.exited;
    expect(exit.code, tf.output() + tf.stderr()).toBe(1);
    const lines = tf.stderr().split('\n');
    expect(lines[0]).toBe(`tf: web.1 not ready after 0.5s (probe: port ${port}); its last 3 lines:`);
    expect(lines[1]).toMatch(/^web\.1 \| booting pid=\d+$/);
    expect(lines[2]).toBe('web.1 | not listening');
    // What it printed once tf stopped it is shown on stdout, so it is among its last lines too.
    expect(lines[3]).toBe('web.1 | got TERM');
    expect(tf.output()).not.toContain('client pid=');
    await expectAllDead(pidsIn(tf.output()));
  }, 20_000);

  it("with --wait-timeout 0 gives up at once, and the failure line's last lines are the lines stdout showed of it", async () => {
    const { tf, port } = await runWith('web', ['/', '0'], { extra: ['--wait-timeout', '0'] });
    const exit = await tf.exited;
    const out = tf.output();
    expect(exit.code, out + tf.stderr()).toBe(1);
    const [first, ...rest] = tf.stderr().trimEnd().split('\n');
    const shown = [...out.matchAll(/^(?:\S+ )?web\.1 +\| (.*)$/gm)].map((m) => `web.1 | ${m[1]}`);
    const tail = shown.length === 0 ? 'it printed nothing' : `its last ${shown.length === 1 ? 'line' : `${shown.length} lines`}:`;
    expect(first, out + tf.stderr()).toBe(`tf: web.1 not ready after 0s (probe: port ${port}); ${tail}`);
    expect(rest, out + tf.stderr()).toEqual(shown);
    expect(out).not.toContain('client pid=');
    await expectAllDead(pidsIn(out));
  }, 20_000);

  it('reports an instance that exits while tf waits for it, with its last lines, and never runs the command', async () => {
    const { tf } = await runWith('web', ['/', '0'], { webArgs: '--crash 7' });
    const exit = await tf.exited;
    expect(exit.code, tf.output() + tf.stderr()).toBe(1);
    const lines = tf.stderr().split('\n');
    expect(lines[0]).toBe('tf: web.1 exited with code 7 before it was ready; its last 2 lines:');
    expect(lines[1]).toMatch(/^web\.1 \| booting pid=\d+$/);
    expect(lines[2]).toBe('web.1 | fatal: cannot boot');
    expect(tf.output()).not.toContain('client pid=');
    await expectAllDead(pidsIn(tf.output()));
  }, 20_000);

  it('stops the command and exits 1 when a service dies while the command runs', async () => {
    const { tf } = await runWith('web', ['/die?code=5', '0', '--hang']);
    const exit = await tf.exited;
    expect(exit.code, tf.output() + tf.stderr()).toBe(1);
    expect(tf.stderr().split('\n')[0]).toMatch(/^tf: web\.1 exited with code 5 while the command ran; its last \d+ lines:$/);
    expect(tf.stderr()).toContain('web.1 | asked to die');
    expect(tf.output()).toContain('client got TERM');
    await expectAllDead(pidsIn(tf.output()));
  }, 20_000);

  // A restart policy keeps `tf start` going; in CI a service that went down under the command's feet fails the run.
  it.each([
    ['restart: on-failure in tf.yaml', { files: { 'tf.yaml': 'web:\n  restart: on-failure\n' } }],
    ['--restart web=always', { extra: ['--restart', 'web=always'] }],
  ])(
    'stops the command and exits 1 when a service with %s dies while the command runs, instead of restarting it',
    async (_, options) => {
      const { tf } = await runWith('web', ['/die?code=5', '0', '--hang'], options);
      const exit = await tf.exited;
      const out = tf.output();
      expect(exit.code, out + tf.stderr()).toBe(1);
      expect(tf.stderr().split('\n')[0], out + tf.stderr()).toMatch(/^tf: web\.1 exited with code 5 while the command ran; its last \d+ lines:$/);
      expect(tf.stderr()).toContain('web.1 | asked to die');
      expect(out).toContain('client got TERM');
      expect(out).toContain('stopping all processes (web.1 exited with code 5)');
      // Stopped before its restart: one run only.
      expect(out.match(/web\.1 started/g), out).toHaveLength(1);
      await expectAllDead(pidsIn(out));
    },
    20_000,
  );

  it('reports a service with --restart web=on-failure that exits before it is ready, at once, and never runs the command', async () => {
    const { tf } = await runWith('web', ['/', '0'], { webArgs: '--crash 7', extra: ['--restart', 'web=on-failure'] });
    const exit = await tf.exited;
    const out = tf.output();
    expect(exit.code, out + tf.stderr()).toBe(1);
    const lines = tf.stderr().split('\n');
    expect(lines[0], out + tf.stderr()).toBe('tf: web.1 exited with code 7 before it was ready; its last 2 lines:');
    expect(lines[2]).toBe('web.1 | fatal: cannot boot');
    expect(out.match(/web\.1 started/g), out).toHaveLength(1);
    expect(out).not.toContain('client pid=');
    await expectAllDead(pidsIn(out));
  }, 20_000);

  it('kills a command that ignores SIGTERM after -t when a service dies', async () => {
    const { tf } = await runWith('web', ['/die?code=5', '0', '--hang', '--ignore-term'], { extra: ['-t', '0.5'] });
    const exit = await tf.exited;
    expect(exit.code, tf.output() + tf.stderr()).toBe(1);
    expect(tf.output()).toContain('client ignoring TERM');
    await expectAllDead(pidsIn(tf.output()));
  }, 20_000);

  it('waits for a log line with --ready worker=log:READY before running the command', async () => {
    const { tf } = await runWith('web,worker', ['/', '0'], { extra: ['--ready', 'worker=log:READY'] });
    const exit = await tf.exited;
    const out = tf.output();
    expect(exit.code, out + tf.stderr()).toBe(0);
    expect(out).toMatch(/worker\.1 ready after/);
    expect(out.indexOf('worker.1 | READY')).toBeGreaterThan(-1);
    expect(out.indexOf('client pid=')).toBeGreaterThan(out.indexOf('worker.1 | READY'));
    await expectAllDead(pidsIn(out));
  }, 20_000);

  it('starts only the types named, at their formation from -m', async () => {
    const { tf } = await runWith('web', ['/', '0'], { extra: ['-m', 'web=2'] });
    const exit = await tf.exited;
    const out = tf.output();
    expect(exit.code, out + tf.stderr()).toBe(0);
    expect(out).toMatch(/web\.2 started/);
    expect(out).not.toMatch(/worker\.1/);
    await expectAllDead(pidsIn(out));
  }, 20_000);

  it('forwards SIGTERM to the command, then stops the services and exits with its code', async () => {
    const { tf } = await runWith('web', ['/', '0', '--hang']);
    await tf.waitFor(/client got: hello/);
    tf.signal('SIGTERM');
    const exit = await tf.exited;
    expect(exit.code, tf.output() + tf.stderr()).toBe(143);
    expect(tf.output()).toContain('client got TERM');
    expect(tf.output()).toContain('stopping all processes (the command exited with code 143)');
    await expectAllDead(pidsIn(tf.output()));
  }, 20_000);

  it('leaves nothing behind when tf itself is SIGKILLed while the command runs (the watchdog)', async () => {
    const { tf } = await runWith('web', ['/', '0', '--hang']);
    await tf.waitFor(/client got: hello/);
    const pids = pidsIn(tf.output());
    expect(pids).toHaveLength(2);
    tf.signal('SIGKILL');
    await tf.exited;
    await expectAllDead(pids);
  }, 20_000);

  it.skipIf(process.platform !== 'linux' || !existsSync('/usr/bin/script'))(
    'in a terminal, Ctrl-C reaches the command; tf then stops the services and exits with its code',
    async () => {
      const port = await freePort();
      const dir = app({ Procfile: procfile() });
      const argv = [
        process.execPath,
        TF_BIN,
        'run',
        '--with',
        'web',
        '-p',
        String(port),
        '--',
        process.execPath,
        path.join(FIXTURES, 'client.mjs'),
        '/',
        '0',
        '--hang',
      ];
      // util-linux script(1) gives tf a pseudo-terminal; what we write to it is typed there.
      const term = spawn('/usr/bin/script', ['-qec', argv.map((a) => JSON.stringify(a)).join(' '), '/dev/null'], {
        cwd: dir,
        env: cleanEnv({ TERM: 'xterm' }),
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      const closed = new Promise<number | null>((resolve) => term.on('close', resolve));
      const gotHello = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for the client:\n${out}`)), 10_000);
        term.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('client got: hello')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      try {
        await gotHello;
        term.stdin.write('\x03');
        const code = await closed;
        // The client has no SIGINT handler: it dies of it (130); web, in its own process group, is stopped by tf.
        expect(out).toContain('stopping all processes (the command exited with code 130)');
        expect(out).toMatch(/web\.1 +\| \S*got TERM/);
        expect(code).toBe(130);
        await expectAllDead(pidsIn(out));
      } finally {
        term.kill('SIGKILL');
      }
    },
    20_000,
  );

  it('stops the services on SIGTERM while waiting, without running the command', async () => {
    const { tf } = await runWith('web', ['/', '0'], { webArgs: '--no-listen' });
    await tf.waitFor(/not listening/);
    tf.signal('SIGTERM');
    const exit = await tf.exited;
    expect(exit.code, tf.output() + tf.stderr()).toBe(143);
    expect(tf.output()).not.toContain('client pid=');
    await expectAllDead(pidsIn(tf.output()));
  }, 20_000);

  it('stops what the command left running in the background together with the services', async () => {
    const port = await freePort();
    // The background process says its pid through a FIFO before the command ends.
    const command = `mkfifo bg && { sh -c 'echo "background pid=$$"; exec sleep 30' > bg & } && head -n 1 bg`;
    const tf = runTf(['run', '--with', 'web', '-p', String(port), '--', command], { cwd: app({ Procfile: procfile() }) });
    const exit = await tf.exited;
    const out = tf.output();
    expect(exit.code, out + tf.stderr()).toBe(0);
    expect(out).toMatch(/^background pid=\d+$/m);
    await expectAllDead(pidsIn(out));
  }, 20_000);

  it('exits 127 for a command that is not found, after stopping the services', async () => {
    const port = await freePort();
    const tf = runTf(['run', '--with', 'web', '-p', String(port), '--', 'no-such-command-tf'], { cwd: app({ Procfile: procfile() }) });
    const exit = await tf.exited;
    expect(exit.code, tf.output() + tf.stderr()).toBe(127);
    expect(tf.stderr()).toBe('tf: command not found: no-such-command-tf; check the spelling or your PATH\n');
    expect(tf.output()).toMatch(/web\.1 +\| got TERM/);
    await expectAllDead(pidsIn(tf.output()));
  }, 20_000);

  it.each([
    [['run', '-m', 'web=2', 'true'], '-m applies to "tf run" only with --with'],
    [['run', '--with', 'web'], 'tf run --with needs a command'],
    [['run', '--with', ',', '--', 'true'], '--with needs at least one process type'],
    [['run', '--with', 'wbe', '--', 'true'], 'unknown process type "wbe"'],
  ])(
    'rejects %j with one line',
    async (args, message) => {
      const tf = runTf(args, { cwd: app({ Procfile: procfile() }) });
      const exit = await tf.exited;
      expect(exit.code).not.toBe(0);
      expect(tf.stderr()).toContain(message);
      expect(tf.stderr().trim().split('\n')).toHaveLength(1);
      expect(tf.output()).toBe('');
    },
    20_000,
  );
  it('a can-die service that is done leaves the command running: the command decides when the run ends', async () => {
    // The service ends while the command runs (the command tells it to); the command goes on for a while after.
    const dir = app({ Procfile: 'setup: sh -c "echo set up; while [ ! -e setup-done ]; do sleep 0.05; done"\n' });
    const tf = runTf(['run', '--with', 'setup', '--can-die', 'setup', '--', 'sh', '-c', 'touch setup-done; sleep 2; echo command-finished'], { cwd: dir });
    const exit = await tf.exited;
    expect(exit.code, tf.output() + tf.stderr()).toBe(0);
    expect(tf.output()).toMatch(/setup\.1 exited with code 0[\s\S]*command-finished/);
    expect(tf.stderr()).toBe('');
    await expectAllDead([tf.pid, ...pidsIn(tf.output())]);
  }, 20_000);
});
