import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultPolicy, type Instance } from '../../src/domain.js';
import { DescriptorsExhausted, FifoMaker } from '../../src/host/fifos.js';
import { StreamPipe, type OutputPipe, type PipeReader } from '../../src/supervisor/pipes.js';
import { instanceSpawner, SpawnError, startFailure, TooManyOpenFiles, type ChildHandle } from '../../src/supervisor/spawn.js';

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

const event = (child: ChildHandle, name: 'exit' | 'close'): Promise<unknown[]> =>
  new Promise((resolve) => child.once(name as 'close', (...args: unknown[]) => resolve(args)));

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

/** The pipe for `stream`; null when the child has none. */
const pipeOf = (child: ChildHandle, stream: string): OutputPipe | null => child.pipes.find((p) => p.stream === stream)?.pipe ?? null;
const streamsOf = (child: ChildHandle): string[] => child.pipes.map((p) => p.stream);

describe('instanceSpawner', () => {
  it('gives a child one FIFO as both stdout and stderr: every byte, in the order written, then "close" after the exit', async () => {
    const child = spawnWith(instanceSpawner(1), 'head -c 300000 /dev/zero | tr "\\0" a; echo; echo oops >&2; echo after; exit 3');
    expect(streamsOf(child)).toEqual(['output']);
    expect(pipeOf(child, 'output')).not.toBeInstanceOf(StreamPipe);
    const out = collect(pipeOf(child, 'output'));
    const exit = event(child, 'exit');
    const closed = event(child, 'close');
    await Promise.all([out.ended, closed]);
    expect(await exit).toEqual([3, null]);
    expect(out.text()).toBe(`${'a'.repeat(300000)}\noops\nafter\n`);
    // The chunks came through one reused buffer: each fits in it.
    expect(Math.max(...out.chunks.map((c) => c.length))).toBeLessThanOrEqual(64 * 1024);
  }, 10_000);

  it('keeps the order of many alternating stdout and stderr writes', async () => {
    const script = 'i=0; while [ $i -lt 200 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done';
    const child = spawnWith(instanceSpawner(1), script);
    const out = collect(pipeOf(child, 'output'));
    await Promise.all([out.ended, event(child, 'close')]);
    const expected = Array.from({ length: 200 }, (_, i) => `out ${i}\nerr ${i}\n`).join('');
    expect(out.text()).toBe(expected);
  }, 10_000);

  it('gives two FIFOs, stdout and stderr, when asked to split them', async () => {
    const child = spawnWith(instanceSpawner(1, { splitStderr: true }), 'echo one; echo oops >&2; echo two');
    expect(streamsOf(child)).toEqual(['stdout', 'stderr']);
    const out = collect(pipeOf(child, 'stdout'));
    const err = collect(pipeOf(child, 'stderr'));
    await Promise.all([out.ended, err.ended, event(child, 'close')]);
    expect(out.text()).toBe('one\ntwo\n');
    expect(err.text()).toBe('oops\n');
  }, 10_000);

  it('waits for a descendant that still holds the pipe before "close"', async () => {
    const child = spawnWith(instanceSpawner(1), '(sleep 0.3; echo late) & echo early');
    const out = collect(pipeOf(child, 'output'));
    let exited = false;
    child.once('exit', () => (exited = true));
    await event(child, 'close');
    expect(exited).toBe(true);
    expect(out.text()).toBe('early\nlate\n');
  }, 10_000);

  it('pauses reading for backpressure and delivers everything on resume', async () => {
    const spawner = instanceSpawner(2);
    const child = spawnWith(spawner, 'echo one; echo two');
    const pipe = pipeOf(child, 'output');
    const out = collect(pipe);
    pipe?.pause();
    // A control child, not paused: once its output has ended, the paused one's would have too.
    const control = spawnWith(spawner, 'echo one; echo two');
    const seen = collect(pipeOf(control, 'output'));
    await Promise.all([event(child, 'exit'), event(control, 'close'), seen.ended]);
    expect(seen.text()).toBe('one\ntwo\n');
    expect(out.chunks).toEqual([]);
    pipe?.resume();
    await out.ended;
    expect(out.text()).toBe('one\ntwo\n');
  }, 10_000);

  it("falls back to Node's pipes where FIFOs cannot be made, keeps the order of stdout and stderr, and says why once", async () => {
    const reasons: string[] = [];
    const spawner = instanceSpawner(2, { fifos: new FifoMaker(4, () => 'no FIFOs here'), onFallback: (reason) => reasons.push(reason) });
    const children = [spawnWith(spawner, 'echo through node; echo err >&2; echo node'), spawnWith(spawner, 'echo again')];
    expect(children.map(streamsOf)).toEqual([['output'], ['output']]);
    expect(pipeOf(children[0] as ChildHandle, 'output')).toBeInstanceOf(StreamPipe);
    const outs = children.map((child) => collect(pipeOf(child, 'output')));
    await Promise.all(children.map((child) => event(child, 'close')));
    expect(outs.map((out) => out.text())).toEqual(['through node\nerr\nnode\n', 'again\n']);
    expect(reasons).toEqual(['no FIFOs here']);
  }, 10_000);

  it("splits Node's pipes too when asked", async () => {
    const spawner = instanceSpawner(1, { fifos: new FifoMaker(2, () => 'no FIFOs here'), splitStderr: true });
    const child = spawnWith(spawner, 'echo out; echo err >&2');
    expect(streamsOf(child)).toEqual(['stdout', 'stderr']);
    const out = collect(pipeOf(child, 'stdout'));
    const err = collect(pipeOf(child, 'stderr'));
    await event(child, 'close');
    expect([out.text(), err.text()]).toEqual(['out\n', 'err\n']);
  }, 10_000);

  it('closes the pipes of a child that cannot start, and reports the error with its errno', async () => {
    const spawner = instanceSpawner(2, { splitStderr: true });
    // The batch is made on the first spawn; count descriptors from there.
    const first = spawnWith(spawner, 'true');
    const fds = openDescriptors();
    const child = spawner({ ...instance('true'), cwd: '/nonexistent/dir' });
    const error = await new Promise<Error>((resolve) => child.once('error', resolve));
    expect(child.pid).toBeUndefined();
    expect(error).toBeInstanceOf(SpawnError);
    expect(error).toMatchObject({ code: 'ENOENT', instance: 'web.1', message: 'its working directory /nonexistent/dir does not exist (ENOENT)' });
    // Its two FIFOs (four descriptors, made with the batch) are closed.
    expect(openDescriptors()).toBe(fds - 4);
    for (const { pipe } of first.pipes) collect(pipe);
    await event(first, 'close');
  }, 10_000);

  it('words a failed start as tf run does: a program not found names itself and the fix', async () => {
    const spawner = instanceSpawner(1);
    const child = spawner({ ...instance('x'), launch: { file: 'no-such-program-tf', args: [] } });
    const error = await new Promise<Error>((resolve) => child.once('error', resolve));
    expect(error).toMatchObject({ code: 'ENOENT', message: 'command not found: no-such-program-tf; check the spelling or your PATH' });
    expect(startFailure('EACCES', { file: './app', cwd: '/srv' })).toEqual({
      message: 'permission denied (EACCES) running ./app in /srv',
      hint: 'make it executable (chmod +x)',
    });
    expect(startFailure('EMFILE', { file: 'x', cwd: '/' })).toEqual({ message: 'too many open files (EMFILE)', hint: 'raise ulimit -n or run fewer' });
    expect(startFailure(undefined, { file: 'x', cwd: '/' })).toEqual({ message: 'could not run x' });
  }, 10_000);

  it("never shows Node's own message for a start it refuses (it may quote the environment), and closes the FIFO", () => {
    // Config rejects a NUL byte when it loads a file; here one reaches spawn anyway.
    const spawner = instanceSpawner(2);
    const fds = openDescriptors();
    let thrown: unknown;
    try {
      spawner({ ...instance('true'), env: { PATH: '/bin', API_TOKEN: 's3cr\0et' } });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SpawnError);
    const error = thrown as SpawnError;
    expect(error.code).toBe('ERR_INVALID_ARG_VALUE');
    expect(error.message).toMatch(/^could not run .* \(ERR_INVALID_ARG_VALUE\)$/);
    expect(`${error.message} ${String(error.cause)}`).not.toMatch(/s3cr/);
    // The batch's other FIFO is still open (two descriptors); this one's are closed.
    expect(openDescriptors()).toBe(fds + 2);
  });

  it('turns running out of descriptors into one error that names the limit and the fix', () => {
    const exhausted = new FifoMaker(2, () => {
      throw new DescriptorsExhausted('EMFILE', new Error('EMFILE'));
    });
    const spawner = instanceSpawner(400, { fifos: exhausted, fileLimit: () => 512 + 10_000 });
    let thrown: unknown;
    try {
      spawner(instance('true'));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(SpawnError);
    expect(thrown).toMatchObject({ code: 'EMFILE' });
    expect((thrown as Error).message).toMatch(
      /^too many open files \(EMFILE\): 400 instances need about \d+ descriptors, the limit is 10512 \(ulimit -n\); raise it or run fewer$/,
    );
  });

  it('refuses up front, before making any FIFO, when the limit on open files is too low', () => {
    let made = 0;
    const fifos = new FifoMaker(800, () => (made++, undefined));
    expect(() => instanceSpawner(400, { fifos, fileLimit: () => 512 })).toThrow(TooManyOpenFiles);
    try {
      instanceSpawner(400, { fifos, fileLimit: () => 512 });
    } catch (error) {
      expect((error as TooManyOpenFiles).describe()).toMatch(
        /^too many open files: 400 instances need about 8\d\d descriptors, the limit is 512 \(ulimit -n\); raise it or run fewer$/,
      );
      expect(error).toMatchObject({ instances: 400, limit: 512 });
    }
    // Split, a child has two pipes: twice the descriptors.
    expect(() => instanceSpawner(200, { fifos, fileLimit: () => 512, splitStderr: true })).toThrow(/200 instances need about 8\d\d descriptors/);
    expect(() => instanceSpawner(200, { fifos, fileLimit: () => 512 })).not.toThrow();
    expect(made).toBe(0);
  });
});

const openDescriptors = (): number => readdirSync(existsSync('/proc/self/fd') ? '/proc/self/fd' : '/dev/fd').length;
