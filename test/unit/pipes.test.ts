import { closeSync, existsSync, readdirSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultPolicy, type Instance } from '../../src/domain.js';
import { PipeCapacity } from '../../src/host/pipe-capacity.js';
import { FifoMaker, FifoPipe, runMkfifo, StreamPipe, type OutputPipe, type PipeReader } from '../../src/supervisor/pipes.js';
import { instanceSpawner, type ChildHandle } from '../../src/supervisor/spawn.js';

const instance = (script: string): Instance => ({
  name: 'web.1',
  type: 'web',
  number: 1,
  command: script,
  launch: { file: '/bin/sh', args: ['-c', script] },
  env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  port: 5000,
  cwd: tmpdir(),
  color: 0,
  policy: defaultPolicy('web'),
});

/** What one pipe delivered: copies of the lent chunks, and whether it ended. */
function collect(pipe: OutputPipe | null): { text: () => string; chunks: Buffer[]; ended: Promise<void> } {
  const chunks: Buffer[] = [];
  let end!: () => void;
  const ended = new Promise<void>((resolve) => (end = resolve));
  const reader: PipeReader = { chunk: (bytes) => void chunks.push(Buffer.from(bytes)), end: () => end() };
  pipe?.read(reader);
  return { text: () => Buffer.concat(chunks).toString(), chunks, ended };
}

const event = (child: ChildHandle, name: 'exit' | 'close'): Promise<unknown[]> => new Promise((resolve) => child.once(name as 'close', (...args: unknown[]) => resolve(args)));

const started: number[] = [];
afterEach(() => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
});

function spawnWith(spawner: ReturnType<typeof instanceSpawner>, script: string): ChildHandle {
  const child = spawner(instance(script));
  if (child.pid !== undefined) started.push(child.pid);
  return child;
}

const leftovers = (): string[] => [tmpdir(), '/dev/shm', process.env.XDG_RUNTIME_DIR ?? ''].filter((d) => d !== '' && existsSync(d)).flatMap((d) => readdirSync(d)).filter((name) => name.startsWith('tf-pipes-'));

describe('FifoMaker', () => {
  it('makes a batch with one mkfifo run, opens both ends and leaves no name on disk', () => {
    const runs: number[] = [];
    const before = leftovers();
    const maker = new FifoMaker(3, (paths) => {
      runs.push(paths.length);
      return runMkfifo(paths);
    });
    const ends = [maker.take(), maker.take(), maker.take()];
    expect(runs).toEqual([3]);
    expect(leftovers()).toEqual(before);
    for (const pair of ends) {
      expect(pair).toBeDefined();
      const { read, write } = pair as { read: number; write: number };
      expect(writeSync(write, 'x')).toBe(1);
      closeSync(read);
      closeSync(write);
    }
    // A fourth (a restart, later) makes one more.
    const more = maker.take();
    expect(runs).toEqual([3, 1]);
    closeSync(more!.read);
    closeSync(more!.write);
  });

  it('says why mkfifo could not make the FIFOs', () => {
    expect(runMkfifo(['/nonexistent-tf-dir/0'])).toBe('mkfifo failed in /nonexistent-tf-dir');
  });

  it('gives nothing, once and for all, where FIFOs cannot be made', () => {
    let runs = 0;
    const maker = new FifoMaker(2, () => (runs++, 'no FIFOs here'));
    expect(maker.take()).toBeUndefined();
    expect(maker.take()).toBeUndefined();
    expect(runs).toBe(1);
    expect(leftovers()).toEqual([]);
  });
});

describe('instanceSpawner', () => {
  it('reads a child through FIFOs: every byte of stdout and stderr, then "close" after the exit', async () => {
    const child = spawnWith(instanceSpawner(1), 'head -c 300000 /dev/zero | tr "\\0" a; echo; echo oops >&2; exit 3');
    expect(child.stdout).not.toBeInstanceOf(StreamPipe);
    const out = collect(child.stdout);
    const err = collect(child.stderr);
    const exit = event(child, 'exit');
    const closed = event(child, 'close');
    await Promise.all([out.ended, err.ended, closed]);
    expect(await exit).toEqual([3, null]);
    expect(out.text()).toBe(`${'a'.repeat(300000)}\n`);
    expect(err.text()).toBe('oops\n');
    // The chunks came through one reused buffer: each fits in it.
    expect(Math.max(...out.chunks.map((c) => c.length))).toBeLessThanOrEqual(64 * 1024);
  }, 10_000);

  it('asks for a bigger pipe once when a read comes back full, and not for a pipe that never fills', async () => {
    const asked: number[] = [];
    const capacity = new PipeCapacity({
      setCapacity: (fds) => {
        asked.push(...fds);
        return Promise.resolve(undefined);
      },
    });
    const spawner = instanceSpawner(1, { capacity });
    // One 1 MiB write: the pipe is full before tf reads it, and stays full for many reads.
    const child = spawnWith(spawner, 'dd if=/dev/zero bs=1048576 count=1 2>/dev/null; echo quiet >&2');
    const out = collect(child.stdout);
    const err = collect(child.stderr);
    await Promise.all([out.ended, err.ended, event(child, 'close')]);
    expect(out.chunks.filter((c) => c.length === 64 * 1024).length, 'full reads').toBeGreaterThan(1);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toBe((child.stdout as FifoPipe).fd);
    expect(err.text()).toBe('quiet\n');
  }, 10_000);

  it('waits for a descendant that still holds the pipe before "close"', async () => {
    const child = spawnWith(instanceSpawner(1), '(sleep 0.3; echo late) & echo early');
    const out = collect(child.stdout);
    collect(child.stderr);
    let exited = false;
    child.once('exit', () => (exited = true));
    await event(child, 'close');
    expect(exited).toBe(true);
    expect(out.text()).toBe('early\nlate\n');
  }, 10_000);

  it('pauses reading for backpressure and delivers everything on resume', async () => {
    const spawner = instanceSpawner(2);
    const child = spawnWith(spawner, 'echo one; echo two');
    const out = collect(child.stdout);
    child.stdout?.pause();
    collect(child.stderr);
    // A control child, not paused: once its output has ended, the paused one's would have too.
    const control = spawnWith(spawner, 'echo one; echo two');
    const seen = collect(control.stdout);
    collect(control.stderr);
    await Promise.all([event(child, 'exit'), event(control, 'close'), seen.ended]);
    expect(seen.text()).toBe('one\ntwo\n');
    expect(out.chunks).toEqual([]);
    child.stdout?.resume();
    await out.ended;
    expect(out.text()).toBe('one\ntwo\n');
  }, 10_000);

  it("falls back to Node's pipes where FIFOs cannot be made, and says why once", async () => {
    const reasons: string[] = [];
    const spawner = instanceSpawner(2, { fifos: new FifoMaker(4, () => 'no FIFOs here'), onFallback: (reason) => reasons.push(reason) });
    const children = [spawnWith(spawner, 'echo through node'), spawnWith(spawner, 'echo again')];
    expect(children[0]?.stdout).toBeInstanceOf(StreamPipe);
    const outs = children.map((child) => (collect(child.stderr), collect(child.stdout)));
    await Promise.all(children.map((child) => event(child, 'close')));
    expect(outs.map((out) => out.text())).toEqual(['through node\n', 'again\n']);
    expect(reasons).toHaveLength(1);
    expect(reasons).toEqual(['no FIFOs here']);
  }, 10_000);

  it('closes the pipes of a child that cannot start, and reports the error', async () => {
    const spawner = instanceSpawner(2);
    // The batch is made on the first spawn; count descriptors from there.
    const first = spawnWith(spawner, 'true');
    const fds = openDescriptors();
    const child = spawner({ ...instance('true'), cwd: '/nonexistent/dir' });
    const error = await new Promise<Error>((resolve) => child.once('error', resolve));
    expect(child.pid).toBeUndefined();
    expect(error.message).toMatch(/ENOENT/);
    // Its two FIFOs (four descriptors, made with the batch) are closed.
    expect(openDescriptors()).toBe(fds - 4);
    collect(first.stdout);
    collect(first.stderr);
    await event(first, 'close');
  }, 10_000);
});

const openDescriptors = (): number => readdirSync(existsSync('/proc/self/fd') ? '/proc/self/fd' : '/dev/fd').length;
