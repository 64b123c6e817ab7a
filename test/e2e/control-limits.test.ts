import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_CONNECTIONS, MAX_FOLLOWERS } from '../../src/control/server.js';
import { expectAllDead, fixture, pidsIn, runTf, tempApps, type TfProcess } from '../helpers/tf.js';

const app = tempApps();
const socketOf = (dir: string): string => path.join(dir, 'tf.sock');
const opened = new Set<net.Socket>();
afterEach(() => {
  for (const socket of opened) socket.destroy();
  opened.clear();
});

function tfIn(dir: string, args: readonly string[]): TfProcess {
  return runTf(args, { cwd: dir, env: { TF_SOCKET: socketOf(dir), TF_READY: 'a=none' } });
}

async function tf(dir: string, args: readonly string[]): Promise<{ code: number | null; out: string; err: string }> {
  const client = tfIn(dir, args);
  const exit = await client.exited;
  return { code: exit.code, out: client.output(), err: client.stderr() };
}

/** A raw client: `first` resolves with the first message tf sends, `closed` with everything it sent. */
interface Raw {
  readonly first: Promise<Record<string, unknown>>;
  readonly closed: Promise<string[]>;
}

function raw(dir: string, request: string | undefined): Raw {
  const socket = net.connect(socketOf(dir));
  opened.add(socket);
  let text = '';
  let onFirst: (message: Record<string, unknown>) => void = () => {};
  let onFailed: (error: Error) => void = () => {};
  const first = new Promise<Record<string, unknown>>((resolve, reject) => {
    onFirst = resolve;
    onFailed = reject;
  });
  // Idle clients mark themselves by connecting.
  if (request === undefined) socket.on('connect', () => onFirst({ connected: true }));
  else socket.on('connect', () => socket.write(`${request}\n`));
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => {
    text += d;
    const nl = text.indexOf('\n');
    if (nl !== -1) onFirst(JSON.parse(text.slice(0, nl)) as Record<string, unknown>);
  });
  socket.on('error', (error) => onFailed(error));
  const closed = new Promise<string[]>((resolve) =>
    socket.on('close', () => {
      onFailed(new Error(`closed before a message; got ${JSON.stringify(text)}`));
      resolve(text.split('\n').filter((l) => l !== ''));
    }),
  );
  return { first, closed };
}

const FOLLOW = '{"v":1,"cmd":"logs","names":[],"lines":1,"follow":true}';

/** A started app whose one instance printed its READY line: a follower's first message is that line. */
async function started(): Promise<{ dir: string; start: TfProcess; pid: number }> {
  const dir = app({ Procfile: `a: ${fixture('ready.mjs')}\n` });
  const start = tfIn(dir, ['start', '--no-timestamp']);
  await start.waitFor(/a\.1 +\| READY/);
  const hello = await raw(dir, '{"v":1,"cmd":"hello"}').first;
  return { dir, start, pid: hello.pid as number };
}

/** `count` followers, each holding its connection once it got the stored line. */
async function followers(dir: string, count: number): Promise<Raw[]> {
  const all = Array.from({ length: count }, () => raw(dir, FOLLOW));
  for (const follower of all) expect(await follower.first).toMatchObject({ kind: 'line', name: 'a.1' });
  return all;
}

async function stopAll(dir: string, start: TfProcess, held: readonly Raw[]): Promise<void> {
  const stop = await tf(dir, ['stop']);
  expect(stop, start.output()).toEqual({ code: 0, out: expect.stringMatching(/^stopping all processes; tf \(pid \d+\) exits once they are down\n$/), err: '' });
  expect((await start.exited).code, start.output()).toBe(0);
  // Every follower ended with the shutdown reply, none with a reset.
  for (const follower of held) {
    const lines = await follower.closed;
    if (lines.length > 1) expect(JSON.parse(lines.at(-1) as string)).toMatchObject({ ok: true, reason: 'shutdown' });
  }
  await expectAllDead([start.pid, ...pidsIn(start.output())]);
}

describe('control connection limits', () => {
  it(`with ${MAX_FOLLOWERS} tf logs -F followers open, one more is refused as busy in one line; tf ps and tf stop still work`, async () => {
    const { dir, start, pid } = await started();
    const held = await followers(dir, MAX_FOLLOWERS);

    const extra = raw(dir, FOLLOW);
    const busy = `tf (pid ${pid}) has ${MAX_FOLLOWERS} tf logs -F followers open, the most it serves; close some and retry`;
    expect(await extra.first).toEqual({ v: 1, ok: false, error: { code: 'busy', message: busy } });
    expect(await tf(dir, ['logs', '-F'])).toEqual({ code: 1, out: '', err: `tf: ${busy}\n` });

    const ps = await tf(dir, ['ps']);
    expect(ps.err).toBe('');
    expect(ps.code).toBe(0);
    expect(ps.out).toMatch(/^a\.1 +ready /m);
    // Short requests other than ps and stop are served too.
    expect(await tf(dir, ['logs', '-n', '1', '--no-timestamp'])).toMatchObject({ code: 0, out: expect.stringMatching(/^a\.1 +\| READY/) });
    await stopAll(dir, start, held);
  }, 30_000);

  it(`a connection over ${MAX_CONNECTIONS} gets a busy reply, not a reset; ps and stop are answered even then`, async () => {
    const { dir, start, pid } = await started();
    const held = await followers(dir, MAX_FOLLOWERS);
    // Clients that connect and send nothing fill the rest (tf drops them after 10 s).
    const idle = Array.from({ length: MAX_CONNECTIONS - MAX_FOLLOWERS }, () => raw(dir, undefined));
    for (const client of idle) await client.first;

    const busy = `tf (pid ${pid}) has ${MAX_CONNECTIONS} control connections open (tf logs -F followers count); close some and retry`;
    const over = raw(dir, '{"v":1,"cmd":"logs","names":[],"lines":1,"follow":false}');
    expect(await over.first).toEqual({ v: 1, ok: false, error: { code: 'busy', message: busy } });
    expect(await over.closed).toHaveLength(1);
    expect(await tf(dir, ['restart'])).toEqual({ code: 1, out: '', err: `tf: ${busy}\n` });

    const ps = await tf(dir, ['ps']);
    expect(ps.err).toBe('');
    expect(ps.out).toMatch(/^a\.1 +ready /m);
    await stopAll(dir, start, held);
  }, 30_000);
});
