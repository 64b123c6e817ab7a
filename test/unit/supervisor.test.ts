import { noWatchdog } from '../../src/supervisor/watchdog.js';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { defaultPolicy, type Instance } from '../../src/domain.js';
import type { SupervisorEvent } from '../../src/supervisor/events.js';
import type { Killer } from '../../src/supervisor/kill.js';
import { StreamPipe } from '../../src/supervisor/pipes.js';
import type { ChildHandle } from '../../src/supervisor/spawn.js';
import { Supervisor } from '../../src/supervisor/supervisor.js';

class FakeChild extends EventEmitter implements ChildHandle {
  /** What the child writes; the supervisor reads it as the fallback (Node stream) pipes. */
  readonly out = new PassThrough();
  readonly err = new PassThrough();
  readonly stdout = new StreamPipe(this.out);
  readonly stderr = new StreamPipe(this.err);
  readonly pipes = [
    { stream: 'stdout', pipe: this.stdout },
    { stream: 'stderr', pipe: this.stderr },
  ] as const;
  constructor(readonly pid: number | undefined) {
    super();
  }
  /** The process ends: exit first, then its pipes close, as Node reports it. */
  finish(code: number | null, signal: NodeJS.Signals | null = null): void {
    this.out.end();
    this.err.end();
    this.emit('exit', code, signal);
    setImmediate(() => this.emit('close'));
  }
}

const instance = (name: string): Instance => ({
  name,
  type: name.split('.')[0] as string,
  number: 1,
  command: 'x',
  launch: { file: '/bin/sh', args: ['-c', 'x'] },
  env: {},
  port: 5000,
  cwd: '/',
  color: 0,
  policy: defaultPolicy('x'),
});

/** A world of fake processes: how each reacts to SIGTERM is up to the test. */
function world(names: string[], onTerm: (name: string) => 'exit' | 'ignore' = () => 'exit', Impl: typeof Supervisor = Supervisor) {
  const children = new Map<string, FakeChild>();
  const byPid = new Map<number, string>();
  const calls: string[] = [];
  const events: SupervisorEvent[] = [];
  let nextPid = 100;
  const spawn = (i: Instance): ChildHandle => {
    if (i.name.startsWith('emfile'))
      throw Object.assign(
        new Error('too many open files (EMFILE): 3 instances need about 40 descriptors, the limit is 30 (ulimit -n); raise it or run fewer'),
        { code: 'EMFILE' },
      );
    const child = new FakeChild(i.name.startsWith('broken') ? undefined : nextPid++);
    if (child.pid === undefined) setImmediate(() => child.emit('error', Object.assign(new Error('spawn /bin/sh ENOENT'), { code: 'ENOENT' })));
    else byPid.set(child.pid, i.name);
    children.set(i.name, child);
    return child;
  };
  const killer: Killer = {
    group(pgid, signal) {
      if (signal === 0) return false;
      const name = byPid.get(pgid) as string;
      calls.push(`${signal} ${name}`);
      const child = children.get(name) as FakeChild;
      if (signal === 'SIGKILL') setImmediate(() => child.finish(null, 'SIGKILL'));
      if (signal === 'SIGTERM' && onTerm(name) === 'exit') setImmediate(() => child.finish(null, 'SIGTERM'));
      return true;
    },
    pid: () => true,
    tree(pid, signal) {
      calls.push(`tree ${signal} ${byPid.get(pid)}`);
    },
    stillAlive: () => ({ groups: [], pids: [] }),
    escapees: () => [],
    started: () => undefined,
    release: () => {},
    marked: () => [],
  };
  const supervisor = new Impl(names.map(instance), { timeoutMs: 5000 }, (e) => events.push(e), {
    spawn,
    killer,
    watchdog: noWatchdog,
  });
  /** The history as "kind instance" strings; output events only when asked for. */
  const kinds = (withOutput = false) =>
    events.filter((e) => withOutput || !e.kind.startsWith('output')).map((e) => ('instance' in e ? `${e.kind} ${e.instance.name}` : e.kind));
  return { supervisor, children, calls, events, kinds };
}

const tick = () => vi.advanceTimersByTimeAsync(0);

describe('signal descriptions (human-signals, loaded off the start-up path)', () => {
  it('describes the signal of an instance that dies right after start-up', async () => {
    vi.resetModules();
    const fresh = (await import('../../src/supervisor/supervisor.js')).Supervisor;
    const w = world(['web.1'], () => 'exit', fresh);
    const done = w.supervisor.run();
    w.children.get('web.1')?.finish(null, 'SIGKILL');
    expect(await done).toBe(137);
    expect(w.events.find((e) => e.kind === 'exited')).toMatchObject({ exit: { signal: 'SIGKILL', signalDescription: 'Forced termination' } });
  });
});

describe('Supervisor', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('stops the others when one exits on its own, and takes its exit code', async () => {
    const w = world(['web.1', 'worker.1']);
    const done = w.supervisor.run();
    await tick();
    w.children.get('worker.1')?.finish(3);
    await vi.advanceTimersByTimeAsync(10);
    expect(await done).toBe(3);
    // worker.1's group was empty at its exit: its pgid may be reused, so it is never signalled again.
    expect(w.calls).toEqual(['SIGTERM web.1']);
    expect(w.kinds()).toEqual(['spawned web.1', 'spawned worker.1', 'exited worker.1', 'stopping', 'exited web.1']);
    const exited = w.events.find((e) => e.kind === 'exited' && e.instance.name === 'web.1');
    expect(exited).toMatchObject({ exit: { code: null, signal: 'SIGTERM', signalDescription: undefined, stoppedByTf: true, forced: false } });
  });

  it.each([
    ['SIGSEGV', 'Segmentation fault'],
    ['SIGKILL', 'Forced termination'], // from elsewhere (the OOM killer): tf had not escalated yet
  ] as const)('describes a signal tf did not send (%s), even while stopping', async (signal, description) => {
    const w = world(['web.1', 'worker.1'], (name) => (name === 'web.1' ? 'ignore' : 'exit'));
    const done = w.supervisor.run();
    await tick();
    w.children.get('worker.1')?.finish(3);
    await tick();
    w.children.get('web.1')?.finish(null, signal);
    await vi.advanceTimersByTimeAsync(10);
    expect(await done).toBe(3);
    const exited = w.events.find((e) => e.kind === 'exited' && e.instance.name === 'web.1');
    expect(exited).toMatchObject({ exit: { signal, signalDescription: description, stoppedByTf: true, forced: false } });
  });

  it('waits the grace period, then SIGKILLs the group and the tree of what is left', async () => {
    const w = world(['web.1', 'stubborn.1'], (name) => (name === 'stubborn.1' ? 'ignore' : 'exit'));
    const done = w.supervisor.run();
    await tick();
    w.supervisor.signal('SIGTERM');
    await vi.advanceTimersByTimeAsync(4999);
    expect(w.calls).toEqual(['SIGTERM web.1', 'SIGTERM stubborn.1']);
    await vi.advanceTimersByTimeAsync(1);
    expect(w.calls.slice(2)).toEqual(['SIGKILL stubborn.1', 'tree SIGKILL stubborn.1']);
    await vi.advanceTimersByTimeAsync(10);
    expect(await done).toBe(143);
    expect(w.calls).toEqual(['SIGTERM web.1', 'SIGTERM stubborn.1', 'SIGKILL stubborn.1', 'tree SIGKILL stubborn.1']);
    expect(w.kinds()).toEqual(['spawned web.1', 'spawned stubborn.1', 'stopping', 'exited web.1', 'killing stubborn.1', 'exited stubborn.1']);
    expect(w.events.at(-1)).toMatchObject({ exit: { forced: true, signal: 'SIGKILL' } });
  });

  it('skips the grace period on a second signal', async () => {
    const w = world(['stubborn.1'], () => 'ignore');
    const done = w.supervisor.run();
    await tick();
    w.supervisor.signal('SIGINT');
    await vi.advanceTimersByTimeAsync(100);
    w.supervisor.signal('SIGINT');
    await vi.advanceTimersByTimeAsync(10);
    expect(await done).toBe(130);
    expect(w.calls).toEqual(['SIGTERM stubborn.1', 'SIGKILL stubborn.1', 'tree SIGKILL stubborn.1']);
  });

  it('exits 1 and stops everything when an instance cannot be spawned, starting none after it', async () => {
    const w = world(['web.1', 'broken.1', 'late.1']);
    const done = w.supervisor.run();
    await vi.advanceTimersByTimeAsync(10);
    expect(await done).toBe(1);
    // The spawn's error comes a moment later; launching more meanwhile would fail the same way (EMFILE) or be stopped at once.
    expect(w.kinds()).toEqual(['spawned web.1', 'spawn-failed broken.1', 'stopping', 'exited web.1']);
    expect(w.events).toContainEqual(expect.objectContaining({ kind: 'spawn-failed', error: 'spawn /bin/sh ENOENT', code: 'ENOENT' }));
  });

  it('stops what it started when a spawn throws part-way, keeping the errno', async () => {
    const w = world(['web.1', 'emfile.1', 'late.1']);
    const done = w.supervisor.run();
    await vi.advanceTimersByTimeAsync(10);
    expect(await done).toBe(1);
    expect(w.kinds()).toEqual(['spawned web.1', 'spawn-failed emfile.1', 'stopping', 'exited web.1']);
    expect(w.calls).toEqual(['SIGTERM web.1']);
    expect(w.events).toContainEqual(
      expect.objectContaining({ kind: 'spawn-failed', code: 'EMFILE', error: expect.stringMatching(/^too many open files \(EMFILE\)/) }),
    );
  });

  it('reports output chunks and their end before the exit', async () => {
    const w = world(['web.1']);
    const done = w.supervisor.run();
    await tick();
    const child = w.children.get('web.1') as FakeChild;
    child.out.write('hello\n');
    child.err.write('oops');
    await tick();
    child.finish(0);
    await vi.advanceTimersByTimeAsync(10);
    expect(await done).toBe(0);
    expect(w.kinds(true)).toEqual(['spawned web.1', 'output web.1', 'output web.1', 'output-end web.1', 'output-end web.1', 'exited web.1', 'stopping']);
  });

  it('pauses and resumes every child stream for backpressure', async () => {
    const w = world(['a.1', 'b.1']);
    void w.supervisor.run();
    await tick();
    w.supervisor.pauseOutput();
    for (const child of w.children.values()) expect([child.out.isPaused(), child.err.isPaused()]).toEqual([true, true]);
    w.supervisor.resumeOutput();
    for (const child of w.children.values()) expect([child.out.isPaused(), child.err.isPaused()]).toEqual([false, false]);
    w.supervisor.signal('SIGTERM');
    await vi.advanceTimersByTimeAsync(10);
  });

  it('forwards a signal to every running group', async () => {
    const w = world(['a.1', 'b.1']);
    void w.supervisor.run();
    await tick();
    w.supervisor.forward('SIGUSR1');
    expect(w.calls).toEqual(['SIGUSR1 a.1', 'SIGUSR1 b.1']);
    expect(w.events.at(-1)).toMatchObject({ kind: 'forwarded', signal: 'SIGUSR1', count: 2 });
    w.supervisor.signal('SIGTERM');
    await vi.advanceTimersByTimeAsync(10);
  });
});
