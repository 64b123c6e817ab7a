import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../../src/control/client.js';
import { prepareSocketDir } from '../../src/control/socket-path.js';
import { expectAllDead } from '../helpers/tf.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const uid = process.getuid?.() ?? 0;
let work: string;
let script: string;
let _sock: string;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  work = realpathSync(mkdtempSync(path.join(tmpdir(), 'tf-ctl-e2e-')));
  script = path.join(work, 'control-server.cjs');
  // The fixture imports the TypeScript sources: one bundle, as the real build makes of tf.
  await build({
    entryPoints: [path.join(here, '../fixtures/control-server.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    outfile: script,
    logLevel: 'warning',
  });
}, 30_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

let n = 0;
afterEach(() => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});

const newSocket = (): string => {
  const dir = path.join(work, `run-${n++}`);
  prepareSocketDir(dir, uid);
  return path.join(dir, 'app.sock');
};

interface Proc {
  readonly pid: number;
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>;
  readonly exited: Promise<number | null>;
  output(): string;
}

function run(mode: 'serve' | 'follow', socketPath: string): Proc {
  const child = spawn(process.execPath, [script, mode, socketPath], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let text = '';
  const listeners = new Set<() => void>();
  const take = (d: Buffer): void => {
    text += d.toString();
    for (const l of listeners) l();
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  let done = false;
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      done = true;
      children.delete(child);
      resolve(code);
      for (const l of listeners) l();
    }),
  );
  return {
    pid: child.pid as number,
    exited,
    output: () => text,
    waitFor: (pattern, ms = 10_000) =>
      new Promise((resolve, reject) => {
        const finish = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        const check = (): void => {
          const match = text.match(pattern);
          if (match !== null) {
            finish();
            resolve(match);
          } else if (done) {
            finish();
            reject(new Error(`exited before ${pattern} appeared:\n${text}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`timed out waiting for ${pattern}:\n${text}`));
        }, ms);
        listeners.add(check);
        check();
      }),
  };
}

const hello = (socketPath: string) => request({ socketPath, root: work }, { cmd: 'hello' });

describe('control socket between real processes', () => {
  it('a socket left by a SIGKILLed holder is detected as stale and replaced', async () => {
    const socketPath = newSocket();
    const first = run('serve', socketPath);
    await first.waitFor(/LISTENING/);
    process.kill(first.pid, 'SIGKILL');
    await first.exited;
    expect(lstatSync(socketPath).isSocket()).toBe(true);
    const second = run('serve', socketPath);
    await second.waitFor(/LISTENING/);
    expect(await hello(socketPath)).toMatchObject({ ok: true, pid: second.pid });
    process.kill(second.pid, 'SIGTERM');
    expect(await second.exited, second.output()).toBe(0);
    expect(existsSync(socketPath)).toBe(false);
    await expectAllDead([first.pid, second.pid]);
  }, 20_000);

  it('two servers started at once on a stale socket: exactly one listens, the other is refused with its pid', async () => {
    const socketPath = newSocket();
    const old = run('serve', socketPath);
    await old.waitFor(/LISTENING/);
    process.kill(old.pid, 'SIGKILL');
    await old.exited;
    expect(lstatSync(socketPath).isSocket()).toBe(true);
    const racers = [run('serve', socketPath), run('serve', socketPath)];
    // The loser exits; the winner listens and stays.
    const loserIndex = await Promise.race(racers.map((r, i) => r.exited.then(() => i)));
    const loser = racers[loserIndex] as Proc;
    const winner = racers[1 - loserIndex] as Proc;
    await winner.waitFor(/LISTENING/);
    expect(await loser.exited).toBe(1);
    expect(loser.output()).toMatch(
      new RegExp(
        `^tf: ${socketPath}: tf \\(pid ${winner.pid}\\) is already (starting|running) for this app; use tf ps / tf stop on it, or pass --socket PATH to run another\n$`,
      ),
    );
    expect(await hello(socketPath)).toMatchObject({ ok: true, pid: winner.pid });
    // The start lock is written under a draft name and linked into place: no draft is ever left.
    expect(readdirSync(path.dirname(socketPath)).filter((f) => /\.lock\.\d+$/.test(f))).toEqual([]);
    process.kill(winner.pid, 'SIGTERM');
    expect(await winner.exited, winner.output()).toBe(0);
    expect(existsSync(socketPath)).toBe(false);
    await expectAllDead([old.pid, ...racers.map((r) => r.pid)]);
  }, 20_000);

  it('a second server for the same socket is refused with the running pid; the first keeps answering', async () => {
    const socketPath = newSocket();
    const first = run('serve', socketPath);
    await first.waitFor(/LISTENING/);
    const second = run('serve', socketPath);
    expect(await second.exited).toBe(1);
    expect(second.output()).toBe(
      `tf: ${socketPath}: tf (pid ${first.pid}) is already running for this app; use tf ps / tf stop on it, or pass --socket PATH to run another\n`,
    );
    expect(await hello(socketPath)).toMatchObject({ ok: true, pid: first.pid });
    process.kill(first.pid, 'SIGTERM');
    expect(await first.exited).toBe(0);
    await expectAllDead([first.pid, second.pid]);
  }, 20_000);

  it('a logs --follow client killed mid-stream is dropped and the server stays healthy', async () => {
    const socketPath = newSocket();
    const server = run('serve', socketPath);
    await server.waitFor(/LISTENING/);
    const follower = run('follow', socketPath);
    await follower.waitFor(/LINE/);
    await server.waitFor(/FOLLOWER\n/);
    process.kill(follower.pid, 'SIGKILL');
    await server.waitFor(/FOLLOWER GONE/);
    expect(await request({ socketPath, root: work }, { cmd: 'ps' })).toMatchObject({ ok: true, instances: [] });
    process.kill(server.pid, 'SIGTERM');
    expect(await server.exited, server.output()).toBe(0);
    await expectAllDead([server.pid, follower.pid]);
  }, 20_000);

  it('a follower that stops reading gets a dropped count, and the producer never waits for it', async () => {
    const socketPath = newSocket();
    const server = run('serve', socketPath);
    await server.waitFor(/LISTENING/);
    const follower = run('follow', socketPath);
    await follower.waitFor(/LINE/);
    process.kill(follower.pid, 'SIGSTOP');
    // 2 MB at once: more than the socket buffers and the follower's queue hold.
    process.kill(server.pid, 'SIGUSR2');
    await server.waitFor(/BURST/);
    // The server answers while the stopped follower holds a full socket.
    expect(await request({ socketPath, root: work }, { cmd: 'ps' })).toMatchObject({ ok: true });
    process.kill(follower.pid, 'SIGCONT');
    const [, count] = (await follower.waitFor(/DROPPED (\d+)/)) as unknown as [string, string];
    expect(Number(count)).toBeGreaterThan(0);
    process.kill(server.pid, 'SIGTERM');
    expect(await server.exited).toBe(0);
    await follower.exited;
    await expectAllDead([server.pid, follower.pid]);
  }, 20_000);
});
