import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TF_BIN, cleanEnv, expectAllDead, fixture, pidsIn, runTf, tempApps, type TfProcess } from '../helpers/tf.js';

const app = tempApps();
const socketOf = (dir: string): string => path.join(dir, 'tf.sock');

function tfIn(dir: string, args: readonly string[]): TfProcess {
  return runTf(args, { cwd: dir, env: { TF_SOCKET: socketOf(dir) } });
}

async function tf(dir: string, args: readonly string[]): Promise<{ code: number | null; out: string; err: string }> {
  const client = tfIn(dir, args);
  const exit = await client.exited;
  return { code: exit.code, out: client.output(), err: client.stderr() };
}

async function stopAll(dir: string, started: TfProcess): Promise<void> {
  expect((await tf(dir, ['stop'])).code).toBe(0);
  expect((await started.exited).code).toBe(0);
  await expectAllDead(pidsIn(started.output()));
}

const linesOf = (text: string): string[] => text.split('\n').filter((l) => l !== '');
/** start's lines of one instance, as printed. */
const linesFrom = (output: string, name: string): string[] => linesOf(output).filter((l) => l.startsWith(`${name} `));

describe('tf logs', () => {
  it('prints the last N lines (default 100) exactly as start printed them, per instance or merged', async () => {
    const dir = app({ Procfile: `web: ${fixture('chatter.mjs', 'w', '3000')}\nworker: ${fixture('chatter.mjs', 'k', '50')}\n` });
    const started = tfIn(dir, ['start', '--no-timestamp']);
    await started.waitFor(/web\.1 +\| DONE w/);
    await started.waitFor(/worker\.1 +\| DONE k/);
    const seenBy = Date.now();
    const web = linesFrom(started.output(), 'web.1');

    const five = await tf(dir, ['logs', '-n', '5', '--no-timestamp', 'web']);
    expect(five.err).toBe('');
    expect(linesOf(five.out)).toEqual(web.slice(-5));

    const byDefault = await tf(dir, ['logs', '--no-timestamp', 'web.1']);
    expect(linesOf(byDefault.out)).toEqual(web.slice(-100));

    // The ring holds the last 1,000 lines of each instance.
    const all = await tf(dir, ['logs', '-n', '5000', '--no-timestamp', 'web']);
    expect(linesOf(all.out)).toEqual(web.slice(-1000));

    const merged = linesOf((await tf(dir, ['logs', '-n', '2000', '--no-timestamp'])).out);
    expect(merged.filter((l) => l.startsWith('worker.1 '))).toEqual(linesFrom(started.output(), 'worker.1'));
    expect(merged.filter((l) => l.startsWith('web.1 '))).toEqual(web.slice(-1000));

    const json = linesOf((await tf(dir, ['logs', '-n', '1', '--json', 'worker'])).out).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(json).toEqual([expect.objectContaining({ instance: 'worker.1', type: 'worker', stream: 'output', msg: 'DONE k' })]);
    // The time start read the line, not the time tf logs printed it.
    expect(json[0]?.time).toBeLessThanOrEqual(seenBy);

    const unknown = await tf(dir, ['logs', 'db']);
    expect(unknown).toEqual({ code: 1, out: '', err: 'tf: no instance or type named "db" (types: web, worker; instances: web.1, worker.1)\n' });
    const bad = await tf(dir, ['logs', '-n', 'lots']);
    expect(bad.code).toBe(2);
    expect(bad.err).toBe('tf: bad value "lots" for --lines; expected a whole number of lines from 0 to 100000\n');
    await stopAll(dir, started);
  }, 30_000);

  it('-F follows new lines, also of instances scaled up later; a follower killed mid-stream costs nothing; followers end with tf', async () => {
    const dir = app({ Procfile: `web: ${fixture('counter.mjs', '20')}\nworker: ${fixture('counter.mjs', '20')}\n` });
    const started = tfIn(dir, ['start', '--no-timestamp']);
    await started.waitFor(/web\.1 +\| LINE 3\n/);

    const killed = tfIn(dir, ['logs', '-F', '-n', '0', '--no-timestamp', 'web']);
    await killed.waitFor(/web\.1 +\| LINE \d+\n[\s\S]*web\.1 +\| LINE \d+\n/);
    killed.signal('SIGKILL');
    await killed.exited;

    const follower = tfIn(dir, ['logs', '-F', '-n', '1', '--no-timestamp', 'web']);
    await follower.waitFor(/web\.1 +\| LINE \d+\n/);
    expect((await tf(dir, ['scale', 'web=2'])).out).toBe('web 1 -> 2 (starting web.2)\n');
    await follower.waitFor(/web\.2 +\| LINE 2\n/);
    expect(follower.output()).not.toMatch(/worker\.1/);

    await stopAll(dir, started);
    // tf ended the stream after the last lines: the follower exits 0, having said why.
    expect((await follower.exited).code).toBe(0);
    const followed = linesOf(follower.output());
    expect(followed.at(-1)).toBe('system   | tf stopped');
    // Every line the follower printed is a line start printed, in the same order per instance.
    for (const name of ['web.1', 'web.2']) {
      const seen = followed.filter((l) => l.startsWith(`${name} `));
      const printed = linesFrom(started.output(), name);
      expect(seen.length).toBeGreaterThan(0);
      const at = printed.indexOf(seen[0] as string);
      expect(printed.slice(at, at + seen.length)).toEqual(seen);
    }
    // The follower was there until the end: it has start's last line of web.1.
    expect(followed).toContain(linesFrom(started.output(), 'web.1').at(-1));
  }, 30_000);
});

describe('tf logs -F, a slow reader', () => {
  it('drops lines for a follower that does not keep up, says how many, and never slows the processes', async () => {
    const dir = app({ Procfile: `web: ${fixture('ready.mjs')}\nflood: ${fixture('chatter.mjs', 'f', '40000')}\n` });
    // Started with -m flood=0: the flood begins once the follower is attached.
    const started = tfIn(dir, ['start', '--no-timestamp', '-m', 'web=1,flood=0']);
    await started.waitFor(/READY web\.1/);
    const follower = spawn(process.execPath, [TF_BIN, 'logs', '-F', '-n', '0', '--no-timestamp', 'flood'], {
      cwd: dir,
      env: cleanEnv({ TF_SOCKET: socketOf(dir) }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      // Nobody reads the follower's stdout yet: it blocks, stops reading its socket, and tf's queue for it overflows.
      expect((await tf(dir, ['scale', 'flood=1'])).code).toBe(0);
      await started.waitFor(/flood\.1 +\| DONE f/, 20_000);
      let text = '';
      follower.stdout.setEncoding('utf8');
      const dropped = new Promise<void>((resolve) =>
        follower.stdout.on('data', (d: string) => {
          text += d;
          if (/lines of flood\.1 dropped here: tf logs did not keep up/.test(text)) resolve();
        }),
      );
      await dropped;
      expect(text).toMatch(/^system +\| \d+ lines of flood\.1 dropped here: tf logs did not keep up$/m);
    } finally {
      follower.kill('SIGKILL');
    }
    await stopAll(dir, started);
  }, 40_000);
});

describe('tf logs -F, a reader that goes away', () => {
  it('ends quietly with 0 when its stdout is closed (tf logs -F | head)', async () => {
    const dir = app({ Procfile: `web: ${fixture('counter.mjs', '10')}\n` });
    const started = tfIn(dir, ['start']);
    await started.waitFor(/web\.1 +\| LINE 2\n/);
    const follower = spawn(process.execPath, [TF_BIN, 'logs', '-F'], {
      cwd: dir,
      env: cleanEnv({ TF_SOCKET: socketOf(dir) }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    follower.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exited = new Promise<number | null>((resolve) => follower.on('close', (code) => resolve(code)));
    // Like head: read the first chunk, then close the pipe; the next line tf logs writes meets EPIPE.
    await new Promise<void>((resolve) => follower.stdout.once('data', () => resolve()));
    follower.stdout.destroy();
    expect(await exited).toBe(0);
    expect(err).toBe('');
    await stopAll(dir, started);
  }, 30_000);
});
