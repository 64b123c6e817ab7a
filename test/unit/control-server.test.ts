import { spawn, spawnSync } from 'node:child_process';
import { linkSync, lstatSync, mkdirSync, mkdtempSync, realpathSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { request, stream } from '../../src/control/client.js';
import { MAX_REQUEST_BYTES, lineMessage, type Request } from '../../src/control/protocol.js';
import { ControlServer, type ControlHandler, type ReplyChannel } from '../../src/control/server.js';
import { prepareSocketDir } from '../../src/control/socket-path.js';
import { TfError } from '../../src/errors.js';
import { LogRing } from '../../src/supervisor/log-ring.js';
import { until } from '../helpers/tf.js';

const uid = process.getuid?.() ?? 0;
let base: string;
let dir: string;
let sock: string;
const servers: ControlServer[] = [];
const rawServers: net.Server[] = [];

beforeEach(() => {
  base = realpathSync(mkdtempSync(path.join(tmpdir(), 'tf-ctl-')));
  dir = path.join(base, `tf-${uid}`);
  prepareSocketDir(dir, uid);
  sock = path.join(dir, 'app.sock');
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await Promise.all(rawServers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  rmSync(base, { recursive: true, force: true });
});

/** A stand-in for what `tf start` plugs in: ps from a table, logs from a ring, the rest refused. */
class FakeHandler implements ControlHandler {
  readonly ring = new LogRing();
  followers = 0;
  followerGone: () => void = () => {};
  handle(request: Request, reply: ReplyChannel): void {
    switch (request.cmd) {
      case 'ps':
        return reply.end({
          ok: true,
          instances: [{ name: 'web.1', type: 'web', state: 'running', pid: 1234, port: 5000, startedAt: 0, restarts: 0, lastExit: null }],
        });
      case 'restart':
        throw new Error('handler bug');
      case 'logs':
        return this.logs(request, reply);
      default:
        return reply.end({ ok: false, error: { code: 'failed', message: `${request.cmd} is not supported here` } });
    }
  }

  private logs(request: Extract<Request, { cmd: 'logs' }>, reply: ReplyChannel): void {
    const send = (lines: ReturnType<LogRing['last']>): void => {
      for (const line of lines) reply.send(lineMessage('web.1', line));
    };
    send(this.ring.last(request.lines));
    if (!request.follow) return reply.end({ ok: true, reason: 'done' });
    this.followers++;
    let congested = false;
    const pump = (): void => {
      if (congested) return;
      const taken = subscription.take();
      send(taken.lines);
      if (taken.dropped > 0) congested = !reply.send({ kind: 'dropped', name: 'web.1', count: taken.dropped });
    };
    const subscription = this.ring.subscribe(pump);
    reply.onDrain(() => {
      congested = false;
      pump();
    });
    reply.onClose(() => {
      subscription.close();
      this.followers--;
      this.followerGone();
    });
  }
}

async function startServer(handler: ControlHandler = new FakeHandler(), at = sock): Promise<ControlServer> {
  const server = await ControlServer.start({ path: at, handler, app: { root: '/app', procfile: '/app/Procfile' }, probeTimeoutMs: 500, requestTimeoutMs: 500 });
  servers.push(server);
  return server;
}

const target = (at = sock) => ({ socketPath: at, root: '/app' });

/** Sends raw bytes, returns every line the server wrote before it closed. */
function raw(payload: string | Buffer, options: { endAfter?: boolean } = {}): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(sock);
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', reject);
    socket.on('close', () => resolve(text.split('\n').filter((l) => l !== '')));
    socket.on('connect', () => {
      socket.write(payload);
      if (options.endAfter === true) socket.end();
    });
  });
}

const refusal = async (promise: Promise<unknown>): Promise<string> => {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TfError) return error.describe();
    throw error;
  }
  throw new Error('not refused');
};

describe('ControlServer: the socket file', () => {
  it('is a socket of mode 0600 in the 0700 directory, even under umask 0', async () => {
    const old = process.umask(0);
    try {
      await startServer();
    } finally {
      process.umask(old);
    }
    const st = lstatSync(sock);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  }, 10_000);

  it('answers hello itself with its pid and app', async () => {
    await startServer();
    expect(await request(target(), { cmd: 'hello' })).toMatchObject({ v: 1, ok: true, pid: process.pid, root: '/app', procfile: '/app/Procfile' });
  }, 10_000);

  it('close removes the socket file', async () => {
    const server = await startServer();
    await server.close();
    expect(existsSync(sock)).toBe(false);
  }, 10_000);

  it('close leaves alone a socket that replaced its own', async () => {
    const server = await startServer();
    rmSync(sock);
    const other = net.createServer();
    rawServers.push(other);
    await new Promise<void>((resolve) => other.listen(sock, resolve));
    const inode = statSync(sock).ino;
    await server.close();
    expect(statSync(sock).ino).toBe(inode);
  }, 10_000);
});

describe('ControlServer: start-up probe', () => {
  it('replaces a stale socket (a socket file nobody listens on)', async () => {
    // A hard link keeps the socket file after its server unlinks and closes: what a SIGKILLed tf leaves.
    const first = net.createServer();
    await new Promise<void>((resolve) => first.listen(path.join(dir, 'old.sock'), resolve));
    linkSync(path.join(dir, 'old.sock'), sock);
    await new Promise((resolve) => first.close(resolve));
    expect(lstatSync(sock).isSocket()).toBe(true);
    await startServer();
    expect(await request(target(), { cmd: 'hello' })).toMatchObject({ ok: true, pid: process.pid });
  }, 10_000);

  it('refuses to start when a tf answers, naming its pid, and the running one keeps working', async () => {
    await startServer();
    const message = await refusal(startServer());
    expect(message).toBe(`${sock}: tf (pid ${process.pid}) is already running for this app; use tf ps / tf stop on it, or pass --socket PATH to run another`);
    expect(await request(target(), { cmd: 'ps' })).toMatchObject({ ok: true, instances: [{ name: 'web.1' }] });
  }, 10_000);

  it('refuses, and does not replace, a holder that accepts and never answers', async () => {
    const held: net.Socket[] = [];
    const silent = net.createServer((socket) => held.push(socket));
    rawServers.push(silent);

    await new Promise<void>((resolve) => silent.listen(sock, resolve));
    const inode = statSync(sock).ino;
    const message = await refusal(startServer()).finally(() => {
      for (const s of held) s.destroy();
    });
    expect(message).toContain('held by a process that does not answer');
    expect(statSync(sock).ino).toBe(inode);
  }, 10_000);

  it('two starts racing on one stale socket: exactly one listens, the other is refused and the winner stays reachable', async () => {
    const first = net.createServer();
    await new Promise<void>((resolve) => first.listen(path.join(dir, 'old.sock'), resolve));
    linkSync(path.join(dir, 'old.sock'), sock);
    await new Promise((resolve) => first.close(resolve));
    const results = await Promise.allSettled([startServer(), startServer()]);
    const winners = results.filter((r) => r.status === 'fulfilled');
    const losers = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(1);
    expect((losers[0] as TfError).describe()).toMatch(new RegExp(`^${sock}: tf \\(pid ${process.pid}\\) is already (starting|running) for this app; `));
    expect(await request(target(), { cmd: 'hello' })).toMatchObject({ ok: true, pid: process.pid });
    expect(existsSync(`${sock}.lock`), 'the lock is released once the winner listens').toBe(false);
  }, 10_000);

  it('a start lock left by a dead tf is replaced; one held by a live process refuses, naming its pid', async () => {
    // A pid that is certainly dead: a child that has exited and been reaped.
    const dead = spawnSync('/bin/sh', ['-c', 'echo $$'], { encoding: 'utf8' });
    const deadPid = Number(dead.stdout.trim());
    expect(() => process.kill(deadPid, 0)).toThrow();
    writeFileSync(`${sock}.lock`, `${deadPid}\n`);
    const server = await startServer();
    expect(existsSync(`${sock}.lock`)).toBe(false);
    await server.close();

    const live = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    try {
      writeFileSync(`${sock}.lock`, `${live.pid}\n`);
      expect(await refusal(startServer())).toBe(
        `${sock}: tf (pid ${live.pid}) is already starting for this app; use tf ps / tf stop on it, or pass --socket PATH to run another`,
      );
      expect(existsSync(`${sock}.lock`), 'a live holder keeps its lock').toBe(true);
      expect(existsSync(sock), 'nothing bound without the lock').toBe(false);
    } finally {
      live.kill('SIGKILL');
      await new Promise((resolve) => live.once('close', resolve));
    }
    expect(() => process.kill(live.pid as number, 0)).toThrow();
  }, 10_000);

  it('never removes a file that is not a socket', async () => {
    writeFileSync(sock, 'precious');
    expect(await refusal(startServer())).toContain('exists and is not a socket');
    expect(lstatSync(sock).isFile()).toBe(true);
  }, 10_000);
});

describe('ControlServer: requests', () => {
  it.each([
    ['garbage', 'hello there\n', 'bad-json'],
    ['no version', '{"cmd":"ps"}\n', 'bad-version'],
    ['an unknown command', '{"v":1,"id":9,"cmd":"explode"}\n', 'unknown-command'],
    ['wrong types', '{"v":1,"cmd":"stop","names":"web"}\n', 'bad-request'],
  ])(
    'answers %s with an error reply',
    async (_what, payload, code) => {
      await startServer();
      const [line, ...rest] = await raw(payload);
      expect(rest).toEqual([]);
      expect(JSON.parse(line as string)).toMatchObject({ v: 1, ok: false, error: { code } });
    },
    10_000,
  );

  it('echoes the id of a refused request', async () => {
    await startServer();
    expect(JSON.parse((await raw('{"v":1,"id":9,"cmd":"explode"}\n'))[0] as string)).toMatchObject({ id: 9 });
  }, 10_000);

  it('answers an oversized line without buffering it all', async () => {
    await startServer();
    const [line] = await raw(Buffer.alloc(MAX_REQUEST_BYTES + 10, 0x61));
    expect(JSON.parse(line as string)).toMatchObject({ ok: false, error: { code: 'too-large' } });
  }, 10_000);

  it('answers a request ended by EOF instead of a newline, and closes an idle connection', async () => {
    await startServer();
    expect(JSON.parse((await raw('{"v":1,"cmd":"ps"}', { endAfter: true }))[0] as string)).toMatchObject({ ok: true });
    expect(JSON.parse((await raw(''))[0] as string)).toMatchObject({ ok: false, error: { code: 'bad-request' } });
  }, 10_000);

  it('a client trickling its request still gets the deadline: a byte now and then does not hold the slot', async () => {
    const server = await startServer();
    const socket = net.connect(sock);
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    // The server closes once its reply is out, while this client may be writing its next byte.
    socket.on('error', () => {});
    // Traffic, not synchronisation: one byte every 50 ms, well within any idle timeout.
    const drip = setInterval(() => socket.write(' '), 50);
    socket.on('connect', () => socket.write('{'));
    await new Promise((resolve) => socket.on('close', resolve));
    clearInterval(drip);
    expect(JSON.parse(text.split('\n')[0] as string)).toMatchObject({ ok: false, error: { code: 'bad-request', message: 'no request line received in time' } });
    await until(() => server.connectionCount === 0, 'the server to forget the connection');
  }, 10_000);

  it('a client that keeps its side open after the reply is let go', async () => {
    const server = await startServer();
    // allowHalfOpen: this client never ends its side, even after tf's reply and end.
    const socket = net.connect({ path: sock, allowHalfOpen: true });
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', () => {});
    socket.on('connect', () => socket.write('{"v":1,"cmd":"ps"}\n'));
    await new Promise((resolve) => socket.on('end', resolve));
    expect(JSON.parse(text.split('\n')[0] as string)).toMatchObject({ ok: true });
    await until(() => server.connectionCount === 0, 'the server to let the connection go');
    socket.destroy();
  }, 10_000);

  it('a reader slower than the linger time still gets all of a long reply: the linger starts once the reply has left', async () => {
    const handler = new FakeHandler();
    // More than a Unix socket's buffer holds, so part of the reply waits in tf until the client reads.
    for (let i = 0; i < 1000; i++) handler.ring.pushLines(1, 'stdout', Buffer.from(`${String(i).padStart(4, '0')} ${'x'.repeat(240)}\n`));
    await startServer(handler);
    const socket = net.connect(sock);
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => {});
    socket.on('connect', () => {
      socket.write('{"v":1,"cmd":"logs","names":[],"lines":1000,"follow":false}\n');
      socket.pause();
    });
    // The slow reader itself: it reads nothing for three times the server's request (and linger) time.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    socket.resume();
    await new Promise((resolve) => socket.on('close', resolve));
    const lines = Buffer.concat(chunks)
      .toString('utf8')
      .split('\n')
      .filter((l) => l !== '');
    expect(lines).toHaveLength(1001);
    expect(JSON.parse(lines[1000] as string)).toMatchObject({ ok: true, reason: 'done' });
  }, 10_000);

  it('turns a handler that throws into an internal error reply, and keeps serving', async () => {
    await startServer();
    expect(await request(target(), { cmd: 'restart', names: [] })).toMatchObject({ ok: false, error: { code: 'internal', message: 'handler bug' } });
    expect(await request(target(), { cmd: 'ps' })).toMatchObject({ ok: true });
  }, 10_000);

  it('bad requests do not disturb a follower streaming at the same time', async () => {
    const handler = new FakeHandler();
    await startServer(handler);
    handler.ring.pushLines(1, 'stdout', Buffer.from('old\n'));
    const messages = stream(target(), { cmd: 'logs', names: [], lines: 10, follow: true });
    expect((await messages.next()).value).toMatchObject({ kind: 'line', text: 'old' });
    const bad = await Promise.all([raw('{nope\n'), raw(Buffer.alloc(MAX_REQUEST_BYTES + 1, 0x20)), raw('{"v":1,"cmd":"nuke"}\n')]);
    expect(bad.map((lines) => JSON.parse(lines[0] as string).error.code)).toEqual(['bad-json', 'too-large', 'unknown-command']);
    expect(await request(target(), { cmd: 'ps' })).toMatchObject({ ok: true });
    handler.ring.pushLines(2, 'stdout', Buffer.from('new\n'));
    expect((await messages.next()).value).toMatchObject({ kind: 'line', text: 'new', time: 2 });
    await messages.return();
  }, 10_000);

  it('a follower that leaves mid-stream is dropped: its subscription closes and the server goes on', async () => {
    const handler = new FakeHandler();
    const server = await startServer(handler);
    const gone = new Promise<void>((resolve) => (handler.followerGone = resolve));
    const messages = stream(target(), { cmd: 'logs', names: [], lines: 10, follow: true });
    const first = messages.next();
    handler.ring.pushLines(1, 'stdout', Buffer.from('x\n'));
    expect((await first).value).toMatchObject({ kind: 'line', text: 'x' });
    expect(handler.followers).toBe(1);
    await messages.return();
    await gone;
    expect(handler.followers).toBe(0);
    for (let i = 0; i < 100; i++) handler.ring.pushLines(i, 'stdout', Buffer.from('more\n'));
    expect(await request(target(), { cmd: 'ps' })).toMatchObject({ ok: true });
    expect(server.connectionCount).toBeLessThanOrEqual(1);
  }, 10_000);

  it('logs without follow sends the last lines then the final reply', async () => {
    const handler = new FakeHandler();
    await startServer(handler);
    handler.ring.pushLines(1, 'stdout', Buffer.from('a\nb\nc\n'));
    const got = [];
    for await (const message of stream(target(), { cmd: 'logs', names: [], lines: 2, follow: false })) got.push(message);
    expect(got).toMatchObject([
      { kind: 'line', text: 'b' },
      { kind: 'line', text: 'c' },
      { ok: true, reason: 'done' },
    ]);
  }, 10_000);

  it('closing the server ends its followers', async () => {
    const handler = new FakeHandler();
    const server = await startServer(handler);
    const gone = new Promise<void>((resolve) => (handler.followerGone = resolve));
    const messages = stream(target(), { cmd: 'logs', names: [], lines: 10, follow: true });
    const next = messages.next();
    handler.ring.pushLines(1, 'stdout', Buffer.from('x\n'));
    await next;
    await server.close();
    await gone;
    expect(await refusal(messages.next())).toContain('closed the connection before replying');
  }, 10_000);
});

describe('client', () => {
  it('no socket: one line naming the root and the socket, exit 1', async () => {
    const error = await refusal(request(target(path.join(dir, 'none.sock')), { cmd: 'ps' }));
    expect(error).toBe(
      `no tf running for /app (socket ${path.join(dir, 'none.sock')}); start it with tf start, from the same directory and with the same -f/-d`,
    );
  });

  it('a stale socket reads as no tf running', async () => {
    const first = net.createServer();
    await new Promise<void>((resolve) => first.listen(path.join(dir, 'old.sock'), resolve));
    linkSync(path.join(dir, 'old.sock'), sock);
    await new Promise((resolve) => first.close(resolve));
    await expect(request(target(), { cmd: 'ps' })).rejects.toMatchObject({ exitCode: 1, message: expect.stringContaining('no tf running for /app') });
  }, 10_000);

  it('an error reply is a value, not a throw', async () => {
    await startServer();
    expect(await request(target(), { cmd: 'stop', names: ['web'] })).toMatchObject({ ok: false, error: { code: 'failed' } });
  }, 10_000);
});

// Keeps the directory helper used by the suite honest about its own mode.
it('the suite runs in a private directory', () => {
  mkdirSync(path.join(dir, 'x'));
  expect(statSync(dir).mode & 0o777).toBe(0o700);
});
