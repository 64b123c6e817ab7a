import { lstatSync, mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectAllDead, fixture, pidsIn, runTf, tempApps, type TfProcess } from '../helpers/tf.js';

const app = tempApps();
const scratch: string[] = [];
afterAll(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/** Each app's socket in its own directory: tests never meet each other's tf. */
const socketOf = (dir: string): string => path.join(dir, 'tf.sock');

/**
 * `web` is probed on its port by default, and something else on this machine may listen on
 * 5000: tests that are not about readiness make it ready once started.
 */
const NO_PROBE = { TF_READY: 'web=none' };

function start(dir: string, args: readonly string[] = [], env: Record<string, string | undefined> = {}): TfProcess {
  return runTf(['start', '--no-timestamp', ...args], { cwd: dir, env: { TF_SOCKET: socketOf(dir), ...NO_PROBE, ...env } });
}

interface Done {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
}

/** A client command against the app's tf, run to its end. */
async function tf(dir: string, args: readonly string[], env: Record<string, string | undefined> = {}): Promise<Done> {
  const client = runTf(args, { cwd: dir, env: { TF_SOCKET: socketOf(dir), ...env } });
  const exit = await client.exited;
  return { code: exit.code, out: client.output(), err: client.stderr() };
}

/** `tf stop` ends start with 0 and leaves nothing behind. */
async function stopAll(dir: string, started: TfProcess, env: Record<string, string | undefined> = {}): Promise<void> {
  const stop = await tf(dir, ['stop'], env);
  expect(stop.err).toBe('');
  expect(stop.out).toMatch(/^stopping all processes; tf \(pid \d+\) exits once they are down\n$/);
  expect((await started.exited).code).toBe(0);
  await expectAllDead(pidsIn(started.output()));
}

interface PsJson {
  readonly name: string;
  readonly state: string;
  readonly pid: number | null;
  readonly port: number;
  readonly restarts: number;
  readonly lastExit: { readonly code: number | null; readonly signal: string | null } | null;
}

async function psJson(dir: string): Promise<PsJson[]> {
  const ps = await tf(dir, ['ps', '--json']);
  expect(ps.err).toBe('');
  expect(ps.code).toBe(0);
  return ps.out
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as PsJson);
}

/** One raw request line, the raw reply. */
function rawRequest(socketPath: string, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let text = '';
    socket.setEncoding('utf8');
    // Half-closed after the bytes, as a client that has said all it will.
    socket.on('connect', () => socket.end(bytes));
    socket.on('data', (d: string) => (text += d));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
}

/** A port nothing listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

describe('tf ps, stop, the socket', () => {
  it('uses a private socket in ${TMPDIR}/tf-UID by default, found again from the same -f/-d, removed at exit', async () => {
    const dir = app({ Procfile: `web: ${fixture('ready.mjs')}\n` });
    const tmp = realpathSync(mkdtempSync(path.join(tmpdir(), 'tf-ctl-tmp-')));
    scratch.push(tmp);
    const env = { TF_SOCKET: undefined, XDG_RUNTIME_DIR: undefined, TMPDIR: tmp, ...NO_PROBE };
    const started = runTf(['start'], { cwd: dir, env });
    await started.waitFor(/READY web\.1/);
    const socketDir = path.join(tmp, `tf-${process.getuid?.() ?? 0}`);
    expect(lstatSync(socketDir).mode & 0o777).toBe(0o700);
    const [name] = readdirSync(socketDir);
    expect(name).toMatch(/^tf-[0-9a-f]{16}\.sock$/);
    const socketPath = path.join(socketDir, name as string);
    expect(lstatSync(socketPath).isSocket()).toBe(true);
    expect(lstatSync(socketPath).mode & 0o777).toBe(0o600);

    // From the app directory, and from elsewhere naming it with -d or -f.
    const here = await tf(dir, ['ps'], env);
    expect(here.out).toMatch(/^NAME +STATE +PID +PORT +UPTIME +RESTARTS +LAST EXIT\nweb\.1 +ready +\d+ +5000 +\d+s +0 +-\n$/);
    const byRoot = runTf(['ps', '-d', dir], { cwd: tmp, env });
    expect((await byRoot.exited).code).toBe(0);
    expect(byRoot.output()).toMatch(/^web\.1 /m);
    const byProcfile = runTf(['ps', '-f', path.join(dir, 'Procfile')], { cwd: tmp, env });
    expect((await byProcfile.exited).code).toBe(0);
    expect(byProcfile.output()).toMatch(/^web\.1 /m);

    await stopAll(dir, started, env);
    expect(existsSync(socketPath)).toBe(false);
    expect(started.output()).toMatch(/stopping all processes \(asked through tf stop\)/);
  }, 30_000);

  it('without a running tf: one line naming the root and the socket, exit 1', async () => {
    const dir = app({ Procfile: 'web: echo hi\n' });
    for (const command of [['ps'], ['restart'], ['stop'], ['scale', 'web=2'], ['logs'], ['signal', 'HUP']]) {
      const result = await tf(dir, command);
      expect(result.code).toBe(1);
      expect(result.out).toBe('');
      expect(result.err).toBe(
        `tf: no tf running for ${dir} (socket ${socketOf(dir)}); start it with tf start, from the same directory and with the same -f/-d\n`,
      );
    }
  }, 30_000);

  it('refuses a second start for the same app, naming the running pid; the first is untouched', async () => {
    const dir = app({ Procfile: `web: ${fixture('ready.mjs')}\n` });
    const first = start(dir);
    await first.waitFor(/READY web\.1/);
    const second = start(dir);
    expect((await second.exited).code).toBe(1);
    expect(second.output()).toBe('');
    expect(second.stderr()).toBe(
      `tf: ${socketOf(dir)}: tf (pid ${first.pid}) is already running for this app; use tf ps / tf stop on it, or pass --socket PATH to run another\n`,
    );
    const [web] = await psJson(dir);
    expect(web).toMatchObject({ name: 'web.1', state: 'ready', restarts: 0 });
    expect(first.output()).not.toMatch(/stopping/);
    await stopAll(dir, first);
  }, 30_000);

  it('after tf start is killed with SIGKILL, ps says no tf runs and the next start takes over', async () => {
    const dir = app({ Procfile: `web: ${fixture('ready.mjs')}\n` });
    const first = start(dir);
    await first.waitFor(/READY web\.1/);
    first.signal('SIGKILL');
    await first.exited;
    // The watchdog stops what the killed tf started and removes its socket (a stale socket a
    // killed tf may leave is replaced by the next start: see control-socket.test.ts).
    await expectAllDead(pidsIn(first.output()));
    const stale = await tf(dir, ['ps']);
    expect(stale.code).toBe(1);
    expect(stale.err).toMatch(/^tf: no tf running for /);

    const second = start(dir);
    await second.waitFor(/READY web\.1/);
    expect((await psJson(dir)).map((r) => r.name)).toEqual(['web.1']);
    await stopAll(dir, second);
  }, 30_000);

  it('answers malformed requests with an error and keeps running', async () => {
    const dir = app({ Procfile: `web: ${fixture('ready.mjs')}\n` });
    const started = start(dir);
    await started.waitFor(/READY web\.1/);
    const sock = socketOf(dir);
    const replies = [
      await rawRequest(sock, 'this is not json\n'),
      await rawRequest(sock, '{"v":1,"cmd":"explode"}\n'),
      await rawRequest(sock, '{"v":7,"cmd":"ps"}\n'),
      await rawRequest(sock, '{"v":1,"cmd":"stop","names":"web"}\n'),
      await rawRequest(sock, Buffer.alloc(70_000, 'x')),
    ].map((text) => JSON.parse(text) as { v: number; ok: boolean; error: { code: string } });
    expect(replies.map((r) => [r.v, r.ok, r.error.code])).toEqual([
      [1, false, 'bad-json'],
      [1, false, 'unknown-command'],
      [1, false, 'bad-version'],
      [1, false, 'bad-request'],
      [1, false, 'too-large'],
    ]);
    // A client that connects and leaves without a word costs nothing either.
    await rawRequest(sock, '');
    const [web] = await psJson(dir);
    expect(web).toMatchObject({ name: 'web.1', state: 'ready' });
    expect(started.output()).not.toMatch(/stopping|exited/);
    await stopAll(dir, started);
  }, 30_000);

  it('stops named instances, which stay listed; a restart starts them again; unknown names act on nothing', async () => {
    const dir = app({ Procfile: `web: ${fixture('signals.mjs')}\nworker: ${fixture('signals.mjs')}\n` });
    const started = start(dir);
    await started.waitFor(/READY web\.1[\s\S]*READY worker\.1|READY worker\.1[\s\S]*READY web\.1/);

    const typo = await tf(dir, ['stop', 'web', 'wrker']);
    expect(typo.code).toBe(1);
    expect(typo.err).toBe('tf: no instance or type named "wrker" (types: web, worker; instances: web.1, worker.1)\n');

    const stop = await tf(dir, ['stop', 'worker']);
    expect(stop).toEqual({ code: 0, out: 'stopping worker.1\n', err: '' });
    await started.waitFor(/worker\.1 exited with code 0/);
    const rows = await psJson(dir);
    expect(rows.map((r) => [r.name, r.state])).toEqual([
      ['web.1', 'ready'],
      ['worker.1', 'stopped'],
    ]);
    expect(rows[1]?.lastExit).toEqual({ code: 0, signal: null });
    expect((await tf(dir, ['stop', 'worker.1'])).out).toBe('worker.1: already down, nothing to stop\n');

    const restart = await tf(dir, ['restart', 'worker.1']);
    expect(restart).toEqual({ code: 0, out: 'restarting worker.1 (env files and Procfile re-read)\n', err: '' });
    // --json: the same account as one JSON object.
    const signalled = await tf(dir, ['signal', 'USR2', 'worker.1', '--json']);
    expect(signalled.code, signalled.err).toBe(0);
    expect(JSON.parse(signalled.out)).toEqual({ done: [expect.stringContaining('worker.1')] });
    await started.waitFor(/READY worker\.1[\s\S]*READY worker\.1/);
    expect((await psJson(dir)).map((r) => [r.name, r.state])).toEqual([
      ['web.1', 'ready'],
      ['worker.1', 'ready'],
    ]);
    expect(started.output()).not.toMatch(/web\.1 exited/);
    await stopAll(dir, started);
  }, 30_000);
});

describe('while tf stops', () => {
  it('answers ps, refuses changes, and a second signal still hurries it; the requested stop exits 0', async () => {
    const dir = app({ Procfile: `web: ${fixture('ignore-term.mjs')}\n` });
    const started = start(dir, ['-t', '20']);
    await started.waitFor(/READY pid=/);
    expect((await tf(dir, ['stop'])).code).toBe(0);
    await started.waitFor(/ignoring TERM/);
    const refused = await tf(dir, ['restart']);
    expect(refused).toEqual({ code: 1, out: '', err: `tf: tf (pid ${started.pid}) is stopping all processes; nothing was done\n` });
    expect((await tf(dir, ['stop'])).code).toBe(0);
    expect((await psJson(dir)).map((r) => [r.name, r.state])).toEqual([['web.1', 'stopping']]);
    started.signal('SIGINT');
    await started.waitFor(/web\.1 was killed with SIGKILL/);
    expect((await started.exited).code).toBe(0);
    await expectAllDead(pidsIn(started.output()));
  }, 30_000);
});

describe('tf restart', () => {
  it('re-reads .env and keeps name and PORT; a broken Procfile refuses and stops nothing', async () => {
    const dir = app({ Procfile: `web: ${fixture('print-env.mjs', 'GREETING', 'PORT', 'PS')}\n`, '.env': 'GREETING=hello\n' });
    const started = start(dir);
    await started.waitFor(/ENV \{"GREETING":"hello","PORT":"5000","PS":"web.1"\}/);
    const [before] = await psJson(dir);

    writeFileSync(path.join(dir, '.env'), 'GREETING=bonjour\n');
    const restart = await tf(dir, ['restart']);
    expect(restart).toEqual({ code: 0, out: 'restarting web.1 (env files and Procfile re-read)\n', err: '' });
    await started.waitFor(/ENV \{"GREETING":"bonjour","PORT":"5000","PS":"web.1"\}/);
    const [after] = await psJson(dir);
    expect(after).toMatchObject({ name: 'web.1', port: 5000, restarts: 1, lastExit: { code: null, signal: 'SIGTERM' } });
    expect(after?.pid).not.toBe(before?.pid);

    // The files re-read get the warnings start gives its own: in the reply, and in start's stream.
    writeFileSync(path.join(dir, '.env'), 'GREETING=hallo\nnot a line\n');
    const warned = await tf(dir, ['restart', 'web']);
    const warning = 'warning: .env:2: not a KEY=value line, so it was ignored; fix it or comment it out with "#"';
    expect(warned).toEqual({ code: 0, out: 'restarting web.1 (env files and Procfile re-read)\n', err: `tf: ${warning}\n` });
    await started.waitFor(/ENV \{"GREETING":"hallo","PORT":"5000","PS":"web.1"\}/);
    expect(started.output()).toContain(warning);
    const [rereadWithWarning] = await psJson(dir);

    writeFileSync(path.join(dir, 'Procfile'), 'web npm start\n');
    const broken = await tf(dir, ['restart', 'web']);
    expect(broken.code).toBe(1);
    expect(broken.out).toBe('');
    expect(broken.err).toMatch(/^tf: Procfile:1: .+\n$/);
    // A broken Procfile does not keep the client commands from the running tf.
    const [still] = await psJson(dir);
    expect(still).toMatchObject({ name: 'web.1', state: 'ready', pid: rereadWithWarning?.pid });
    expect(started.output().match(/web\.1 exited/g)).toHaveLength(2);
    await stopAll(dir, started);
  }, 30_000);
});

describe('control commands and the release entry', () => {
  it('scale, restart and stop name the release entry as the release phase, not a type', async () => {
    const dir = app({ Procfile: `release: true\nweb: ${fixture('ready.mjs')}\n` });
    const started = start(dir);
    await started.waitFor(/READY web\.1/);
    const expected = 'tf: release is the release phase, not a process type: tf release runs it (types: web)\n';
    for (const command of [
      ['scale', 'release=1'],
      ['scale', 'web=1', 'release=+2'],
      ['restart', 'release'],
      ['stop', 'release'],
    ]) {
      const result = await tf(dir, command);
      expect(result, command.join(' ')).toEqual({ code: 1, out: '', err: expected });
    }
    expect((await psJson(dir)).map((r) => r.name)).toEqual(['web.1']);
    await stopAll(dir, started);
  }, 30_000);
});

describe('tf scale', () => {
  it("adds instances on foreman's ports, removes the highest-numbered, goes to 0 and back", async () => {
    const dir = app({ Procfile: `web: ${fixture('ready.mjs')}\nworker: ${fixture('ready.mjs')}\n` });
    const started = start(dir, ['-m', 'web=1,worker=0']);
    await started.waitFor(/READY web\.1/);

    expect(await tf(dir, ['scale', 'web=3', 'worker=+1'])).toEqual({
      code: 0,
      out: 'web 1 -> 3 (starting web.2, web.3); worker 0 -> 1 (starting worker.1)\n',
      err: '',
    });
    await started.waitFor(/READY web\.3 5002/);
    await started.waitFor(/READY worker\.1 5100/);
    await started.waitFor(/READY web\.2 5001/);
    expect((await psJson(dir)).map((r) => [r.name, r.port])).toEqual([
      ['web.1', 5000],
      ['web.2', 5001],
      ['web.3', 5002],
      ['worker.1', 5100],
    ]);

    expect((await tf(dir, ['scale', 'web=-1'])).out).toBe('web 3 -> 2 (stopping web.3)\n');
    await started.waitFor(/web\.3 removed from the formation/);
    expect((await psJson(dir)).map((r) => r.name)).toEqual(['web.1', 'web.2', 'worker.1']);

    expect((await tf(dir, ['scale', 'web=0'])).out).toBe('web 2 -> 0 (stopping web.2, web.1)\n');
    await started.waitFor(/web\.1 removed from the formation/);
    await started.waitFor(/web\.2 removed from the formation/);
    expect((await psJson(dir)).map((r) => r.name)).toEqual(['worker.1']);
    expect((await tf(dir, ['scale', 'web=1'])).out).toBe('web 0 -> 1 (starting web.1)\n');
    await started.waitFor(/READY web\.1 5000[\s\S]*READY web\.1 5000/);
    expect((await psJson(dir)).map((r) => [r.name, r.state])).toEqual([
      ['web.1', 'ready'],
      ['worker.1', 'ready'],
    ]);
    expect((await tf(dir, ['scale', 'web=1'])).out).toBe('web stays at 1\n');
    await stopAll(dir, started);
  }, 30_000);

  it('refuses what the plan refuses (a port collision) and unknown types, changing nothing', async () => {
    const dir = app({ Procfile: `web: ${fixture('ready.mjs')}\nworker: ${fixture('ready.mjs')}\n` });
    const started = start(dir, ['-p', '6000', '--port-step', '2']);
    await started.waitFor(/READY web\.1[\s\S]*READY worker\.1|READY worker\.1[\s\S]*READY web\.1/);
    const collision = await tf(dir, ['scale', 'web=3']);
    expect(collision.code).toBe(1);
    expect(collision.err).toBe(
      'tf: web.3 and worker.1 would both get port 6002; nothing was scaled (scale less, or start tf again with another -p or --port-step)\n',
    );
    const unknown = await tf(dir, ['scale', 'wbe=2']);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toBe('tf: no process type "wbe" in Procfile (types: web, worker)\n');
    const bad = await tf(dir, ['scale', 'web']);
    expect(bad.code).toBe(2);
    expect(bad.err).toBe('tf: bad scale "web"; write TYPE=N, TYPE=+N or TYPE=-N, e.g. web=3\n');
    expect((await psJson(dir)).map((r) => r.name)).toEqual(['web.1', 'worker.1']);
    expect(started.output()).not.toMatch(/web\.2/);
    await stopAll(dir, started);
  }, 30_000);
});

describe('tf signal and stop signals', () => {
  it('sends a signal (name or number) to the named instances only', async () => {
    const dir = app({ Procfile: `web: ${fixture('signals.mjs')}\nworker: ${fixture('signals.mjs')}\n` });
    const started = start(dir);
    await started.waitFor(/READY web\.1[\s\S]*READY worker\.1|READY worker\.1[\s\S]*READY web\.1/);
    expect(await tf(dir, ['signal', 'usr2', 'worker'])).toEqual({ code: 0, out: 'sent SIGUSR2 to worker.1\n', err: '' });
    await started.waitFor(/worker\.1 +\| GOT SIGUSR2/);
    expect(await tf(dir, ['signal', '1'])).toEqual({ code: 0, out: 'sent SIGHUP to web.1, worker.1\n', err: '' });
    await started.waitFor(/web\.1 +\| GOT SIGHUP/);
    await started.waitFor(/worker\.1 +\| GOT SIGHUP/);
    expect(started.output()).not.toMatch(/web\.1 +\| GOT SIGUSR2/);
    const bad = await tf(dir, ['signal', 'SIGNOPE']);
    expect(bad).toMatchObject({ code: 2, err: 'tf: unknown signal "SIGNOPE"; give a name (USR2, SIGHUP) or a number (12)\n' });
    // Nothing running to reach fails, as kill(1) with no process does.
    expect((await tf(dir, ['stop', 'worker'])).code).toBe(0);
    await started.waitFor(/worker\.1 (exited|was)/);
    expect(await tf(dir, ['signal', 'USR2', 'worker'])).toEqual({ code: 1, out: '', err: 'tf: nothing running to send SIGUSR2 to\n' });
    await stopAll(dir, started);
  }, 30_000);

  it('--stop-signal worker=INT: tf stop worker sends SIGINT, the others still get SIGTERM', async () => {
    const dir = app({ Procfile: `web: ${fixture('signals.mjs')}\nworker: ${fixture('signals.mjs')}\n` });
    const started = start(dir, ['--stop-signal', 'worker=INT']);
    await started.waitFor(/READY web\.1[\s\S]*READY worker\.1|READY worker\.1[\s\S]*READY web\.1/);
    expect((await tf(dir, ['stop', 'worker'])).out).toBe('stopping worker.1\n');
    await started.waitFor(/worker\.1 +\| GOT SIGINT/);
    await stopAll(dir, started);
    expect(started.output()).toMatch(/web\.1 +\| GOT SIGTERM/);
    expect(started.output()).not.toMatch(/worker\.1 +\| GOT SIGTERM/);
  }, 30_000);
});

describe('policies and readiness, seen through tf ps', () => {
  it('--restart worker=on-failure: a crashing worker backs off and comes back while web keeps running', async () => {
    const dir = app({ Procfile: `web: ${fixture('ready.mjs')}\nworker: ${fixture('exit-with.mjs', '1', '0')}\n` });
    const started = start(dir, ['--restart', 'worker=on-failure']);
    await started.waitFor(/worker\.1 restarting in 1s \(attempt 1\)/);
    await started.waitFor(/worker\.1 restarting in 2s \(attempt 2\)/);
    const rows = await psJson(dir);
    expect(rows.map((r) => [r.name, r.state])).toEqual([
      ['web.1', 'ready'],
      ['worker.1', 'backoff'],
    ]);
    expect(rows[1]).toMatchObject({ pid: null, restarts: 1, lastExit: { code: 1, signal: null } });
    const table = await tf(dir, ['ps']);
    expect(table.out).toMatch(/^worker\.1 +backoff +- +5100 +- +1 +code 1$/m);
    await started.waitFor(/worker\.1 started[\s\S]*worker\.1 started[\s\S]*worker\.1 started/, 15_000);
    expect(started.output()).not.toMatch(/web\.1 exited/);
    await stopAll(dir, started);
  }, 30_000);

  it('--can-die setup: setup exits 3, the rest keeps running, ps shows it exited', async () => {
    const dir = app({ Procfile: `setup: ${fixture('exit-with.mjs', '3', '0')}\nweb: ${fixture('ready.mjs')}\n` });
    const started = start(dir, ['--can-die', 'setup']);
    await started.waitFor(/setup\.1 exited with code 3/);
    await started.waitFor(/READY web\.1/);
    const rows = await psJson(dir);
    expect(rows.map((r) => [r.name, r.state])).toEqual([
      ['setup.1', 'exited'],
      ['web.1', 'ready'],
    ]);
    expect(rows[0]?.lastExit).toEqual({ code: 3, signal: null });
    await stopAll(dir, started);
  }, 30_000);

  it('web that listens on PORT: "web.1 ready after", and ps says ready', async () => {
    const dir = app({ Procfile: `web: ${fixture('listen.mjs')}\n` });
    const port = await freePort();
    const started = start(dir, ['-p', String(port)], { TF_READY: undefined });
    await started.waitFor(/system +\| web\.1 ready after \d+(\.\d)?s/);
    expect((await psJson(dir))[0]).toMatchObject({ name: 'web.1', state: 'ready', port });
    await stopAll(dir, started);
  }, 30_000);

  it('a port another process held at start: never ready by the holder, ready once the instance itself listens there', async () => {
    if (!existsSync('/proc/net/tcp')) return void console.log('control: skipping the taken-port readiness test: no /proc/net/tcp here');
    const holder = net.createServer();
    const port = await new Promise<number>((resolve) => holder.listen(0, '127.0.0.1', () => resolve((holder.address() as net.AddressInfo).port)));
    const dir = app({ Procfile: `web: ${fixture('listen.mjs')}\n` });
    const started = start(dir, ['-p', String(port), '--restart', 'web=on-failure'], { TF_READY: undefined });
    try {
      // listen.mjs cannot bind beside the holder and exits; tf waits a second before the next run.
      await started.waitFor(/web\.1 restarting in/);
      expect(started.output()).toMatch(new RegExp(`warning: port ${port} for web\\.1 is already in use`));
    } finally {
      holder.close();
    }
    await started.waitFor(/web\.1 ready after/);
    expect((await psJson(dir))[0]).toMatchObject({ name: 'web.1', state: 'ready', restarts: 1 });
    await stopAll(dir, started);
  }, 30_000);
});

describe('--wait-timeout: restart, stop and scale wait for the outcome', () => {
  it('waits until restarted and added instances are ready and stopped ones are down; a whole stop until tf is gone', async () => {
    const port = await freePort();
    const dir = app({ Procfile: `web: ${fixture('listen.mjs')}\nworker: ${fixture('signals.mjs')}\n` });
    const started = start(dir, ['-p', String(port), '--port-step', '10'], { TF_READY: undefined });
    await started.waitFor(/web\.1 ready after/);
    const [web] = await psJson(dir);

    expect(await tf(dir, ['restart', 'web', '--wait-timeout', '10'])).toEqual({ code: 0, out: 'restarting web.1 (env files and Procfile re-read)\n', err: '' });
    const [again] = await psJson(dir);
    expect(again).toMatchObject({ name: 'web.1', state: 'ready', restarts: 1 });
    expect(again?.pid).not.toBe(web?.pid);

    expect((await tf(dir, ['scale', 'web=2', '--wait-timeout', '10'])).out).toBe('web 1 -> 2 (starting web.2)\n');
    expect((await psJson(dir)).find((r) => r.name === 'web.2')).toMatchObject({ state: 'ready', port: port + 1 });

    expect((await tf(dir, ['stop', 'worker', '--wait-timeout', '10'])).out).toBe('stopping worker.1\n');
    expect((await psJson(dir)).find((r) => r.name === 'worker.1')?.state).toBe('stopped');

    const whole = await tf(dir, ['stop', '--wait-timeout', '10']);
    expect(whole.code).toBe(0);
    // It returned once tf was gone: the socket is removed, and the exit is there to collect.
    expect(existsSync(socketOf(dir))).toBe(false);
    expect((await started.exited).code).toBe(0);
    await expectAllDead(pidsIn(started.output()));
  }, 30_000);

  it('fails, naming the instance, when it crashes or is not ready in time', async () => {
    const dir = app({ Procfile: `web: ${fixture('ready.mjs')}\nother: ${fixture('ready.mjs')}\n` });
    const started = start(dir, ['--can-die', 'web', '-p', String(await freePort())], { TF_READY: undefined });
    await started.waitFor(/READY web\.1/);
    // web is probed on its port, where ready.mjs never listens.
    const slow = await tf(dir, ['restart', 'web', '--wait-timeout', '0.3']);
    expect(slow).toEqual({
      code: 1,
      out: 'restarting web.1 (env files and Procfile re-read)\n',
      err: 'tf: gave up waiting after 0.3 s: web.1 is running; see tf ps and tf logs\n',
    });

    writeFileSync(path.join(dir, 'Procfile'), `web: ${fixture('exit-with.mjs', '4', '0')}\nother: ${fixture('ready.mjs')}\n`);
    const crash = await tf(dir, ['restart', 'web', '--wait-timeout', '10']);
    expect(crash).toEqual({
      code: 1,
      out: 'restarting web.1 (env files and Procfile re-read)\n',
      err: 'tf: web.1 did not come up: it is exited (code 4); see tf logs web.1\n',
    });
    const bad = await tf(dir, ['stop', 'web', '--wait-timeout', 'soon']);
    expect(bad).toEqual({ code: 2, out: '', err: 'tf: bad value "soon" for --wait-timeout; expected a number of seconds from 0 to 2147483, e.g. 5 or 0.5\n' });
    await stopAll(dir, started);
  }, 30_000);
});
