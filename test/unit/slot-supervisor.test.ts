import { noWatchdog } from '../../src/supervisor/watchdog.js';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { defaultPolicy, type Instance, type TypePolicy } from '../../src/domain.js';
import type { SupervisorEvent } from '../../src/supervisor/events.js';
import type { Killer } from '../../src/supervisor/kill.js';
import { StreamPipe } from '../../src/supervisor/pipes.js';
import type { ReadinessProbe } from '../../src/supervisor/readiness.js';
import type { ChildHandle } from '../../src/supervisor/spawn.js';
import { Supervisor } from '../../src/supervisor/supervisor.js';

/** Histories of restarts, stops and scaling replayed against fake processes and fake timers. */

class FakeChild extends EventEmitter implements ChildHandle {
  readonly out = new PassThrough();
  readonly err = new PassThrough();
  readonly pipes = [
    { stream: 'stdout' as const, pipe: new StreamPipe(this.out) },
    { stream: 'stderr' as const, pipe: new StreamPipe(this.err) },
  ];
  alive = true;
  /** Processes left in its group besides the leader (a shell's background job). */
  members = 0;
  constructor(
    readonly pid: number,
    readonly instance: Instance,
  ) {
    super();
  }
  finish(code: number | null, signal: NodeJS.Signals | null = null): void {
    if (!this.alive) return;
    this.alive = false;
    this.out.end();
    this.err.end();
    this.emit('exit', code, signal);
    setImmediate(() => this.emit('close'));
  }
  /** The leader exits while a descendant holds its pipes open: no `close`. */
  exitKeepingPipes(code: number): void {
    this.alive = false;
    this.emit('exit', code, null);
  }
}

const instanceOf = (name: string, policies: Record<string, Partial<TypePolicy>>, extra: Partial<Instance> = {}): Instance => {
  const [type, n] = name.split('.') as [string, string];
  const index = Number(n);
  return {
    name,
    type,
    number: index,
    command: 'x',
    launch: { file: '/bin/sh', args: ['-c', 'x'] },
    env: {},
    port: (type === 'web' ? 5000 : 5100) + index - 1,
    cwd: '/',
    color: 0,
    policy: { ...defaultPolicy(type), ready: { kind: 'none' }, ...policies[type] },
    ...extra,
  };
};

interface WorldOptions {
  readonly policies?: Record<string, Partial<TypePolicy>>;
  /** How a process reacts to its stop signal. */
  readonly onStop?: (name: string) => 'exit' | 'ignore';
  readonly readiness?: ReadinessProbe;
  /** How the members a group keeps after its leader exits react to the stop signal. */
  readonly memberOnStop?: 'exit' | 'ignore';
  /** These instances' spawns come back without a pid, their error on the next tick. */
  readonly unspawnable?: readonly string[];
  readonly debug?: (line: string) => void;
}

function world(names: string[], { policies = {}, onStop = () => 'exit', readiness, memberOnStop = 'exit', unspawnable = [], debug }: WorldOptions = {}) {
  const runs: FakeChild[] = [];
  const byPid = new Map<number, FakeChild>();
  const calls: string[] = [];
  const watched = new Set<number>();
  const events: SupervisorEvent[] = [];
  let nextPid = 100;
  const spawn = (i: Instance): ChildHandle => {
    if (unspawnable.includes(i.name)) {
      const failed = new FakeChild(undefined as unknown as number, i);
      setImmediate(() => failed.emit('error', Object.assign(new Error(`spawn /bin/sh ENOENT`), { code: 'ENOENT' })));
      return failed;
    }
    const child = new FakeChild(nextPid++, i);
    runs.push(child);
    byPid.set(child.pid, child);
    return child;
  };
  const killer: Killer = {
    group(pgid, signal) {
      const child = byPid.get(pgid) as FakeChild;
      if (signal === 0) return child.members > 0;
      calls.push(`${signal} ${child.instance.name}`);
      // Signalling a group once it is empty would hit whoever has that pgid now.
      if (!child.alive && child.members === 0) throw new Error(`signalled the group of ${child.instance.name} after it emptied`);
      if (signal === 'SIGKILL' || (signal === child.instance.policy.stopSignal && memberOnStop === 'exit')) child.members = 0;
      if (!child.alive) return true;
      if (signal === 'SIGKILL') setImmediate(() => child.finish(null, 'SIGKILL'));
      else if (signal === child.instance.policy.stopSignal && onStop(child.instance.name) === 'exit') setImmediate(() => child.finish(null, signal));
      return true;
    },
    pid: () => true,
    tree(pid, signal) {
      calls.push(`tree ${signal} ${byPid.get(pid)?.instance.name}`);
    },
    stillAlive: (groups) => ({ groups: groups.filter((g) => (byPid.get(g)?.members ?? 0) > 0), pids: [] }),
    escapees: () => [],
    started: (pid) => ({ pid, startTime: '1' }),
    release: () => {},
    marked: () => [],
  };
  const supervisor = new Supervisor(
    names.map((n) => instanceOf(n, policies)),
    { timeoutMs: 5000, ...(debug === undefined ? {} : { debug }) },
    (e) => events.push(e),
    { spawn, killer, readiness, watchdog: { ...noWatchdog, add: (p) => watched.add(p.pid), remove: (p) => watched.delete(p) } },
  );
  /** The latest run of an instance. */
  const current = (name: string) => runs.filter((r) => r.instance.name === name).at(-1) as FakeChild;
  const kinds = () => events.filter((e) => !e.kind.startsWith('output')).map((e) => ('instance' in e ? `${e.kind} ${e.instance.name}` : e.kind));
  const states = () => Object.fromEntries(supervisor.snapshot().map((v) => [v.name, v.state]));
  const make = (n: number) => instanceOf(`${names[0]?.split('.')[0]}.${n}`, policies);
  return { supervisor, runs, calls, events, watched, current, kinds, states, make, policies };
}

const tick = () => vi.advanceTimersByTimeAsync(0);
/**
 * Lets an exit settle: the fake process exits on an immediate and closes its pipes on the
 * next one, and fake timers run an immediate queued by another only on the next advance.
 */
async function settle(): Promise<void> {
  for (let i = 0; i < 4; i++) await vi.advanceTimersByTimeAsync(1);
}

describe('Supervisor slots', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  /** Ends tf and checks that nothing is left running and the watchdog forgot every group. */
  async function end(w: ReturnType<typeof world>, done: Promise<number>): Promise<number> {
    w.supervisor.signal('SIGTERM');
    await vi.advanceTimersByTimeAsync(6000);
    const code = await done;
    expect(w.runs.filter((r) => r.alive).map((r) => r.instance.name)).toEqual([]);
    expect([...w.watched]).toEqual([]);
    return code;
  }

  it('restarts an instance under `always` after a back-off, and the others keep running', async () => {
    const w = world(['web.1', 'worker.1'], { policies: { worker: { restart: 'always' } } });
    const done = w.supervisor.run();
    await tick();
    w.current('worker.1').finish(3);
    await settle();
    expect(w.states()).toEqual({ 'web.1': 'ready', 'worker.1': 'backoff' });
    expect(w.events.at(-1)).toMatchObject({ kind: 'backoff', attempt: 1, delayMs: 1000 });
    const { restartAt } = w.supervisor.snapshot()[1] as { restartAt: number };
    expect(restartAt - Date.now()).toBeGreaterThan(990);
    await vi.advanceTimersByTimeAsync(restartAt - Date.now() - 1);
    expect(w.runs).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(w.runs).toHaveLength(3);
    expect(w.supervisor.snapshot()[1]).toMatchObject({
      name: 'worker.1',
      state: 'ready',
      pid: 102,
      port: 5100,
      restarts: 1,
      lastExit: { code: 3, signal: null },
    });
    expect(w.calls).toEqual([]);
    expect(w.watched.has(102)).toBe(true);
    expect(await end(w, done)).toBe(143);
  });

  it('gives up after 5 quick exits in a row: failed, stays down, the rest keep running; restart tries again', async () => {
    const w = world(['web.1', 'worker.1'], { policies: { worker: { restart: 'on-failure' } } });
    const done = w.supervisor.run();
    await tick();
    for (const delay of [1000, 2000, 4000, 8000]) {
      w.current('worker.1').finish(1);
      await settle();
      await vi.advanceTimersByTimeAsync(delay);
    }
    w.current('worker.1').finish(1);
    await settle();
    expect(w.events.filter((e) => e.kind === 'backoff').map((e) => (e.kind === 'backoff' ? e.delayMs : 0))).toEqual([1000, 2000, 4000, 8000]);
    expect(w.events.at(-1)).toMatchObject({ kind: 'failed', reason: '5 quick exits in a row', instance: { name: 'worker.1' } });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(w.runs).toHaveLength(6);
    expect(w.states()).toEqual({ 'web.1': 'ready', 'worker.1': 'failed' });
    expect(w.supervisor.snapshot()[1]).toMatchObject({ reason: '5 quick exits in a row', pid: undefined, restarts: 4 });

    expect(w.supervisor.restart(['worker'])).toEqual({ names: ['worker.1'], unknown: [] });
    expect(w.runs).toHaveLength(7);
    expect(w.states()).toEqual({ 'web.1': 'ready', 'worker.1': 'ready' });
    expect(await end(w, done)).toBe(143);
  });

  it("a restart asked for never counts as an exit on its own, even under foreman's stop-all policy", async () => {
    const w = world(['web.1', 'worker.1']);
    const done = w.supervisor.run();
    await tick();
    w.supervisor.restart(['web.1'], (old) => ({ ...old, env: { EDITED: '1' } }));
    expect(w.states()['web.1']).toBe('stopping');
    await settle();
    expect(w.calls).toEqual(['SIGTERM web.1']);
    expect(w.kinds()).toEqual(['spawned web.1', 'spawned worker.1', 'restarting web.1', 'exited web.1', 'spawned web.1']);
    expect(w.current('web.1').instance).toMatchObject({ name: 'web.1', port: 5000, env: { EDITED: '1' } });
    expect(w.watched.has(100)).toBe(false);
    expect(w.supervisor.snapshot()[0]).toMatchObject({ state: 'ready', restarts: 1, lastExit: { signal: 'SIGTERM' } });
    expect(await end(w, done)).toBe(143);
  });

  it("a restart during a stop: the type's stop signal, SIGKILL after the grace period, then a new run", async () => {
    const w = world(['web.1', 'worker.1'], { policies: { worker: { stopSignal: 'SIGQUIT' } }, onStop: () => 'ignore' });
    const done = w.supervisor.run();
    await tick();
    expect(w.supervisor.stopSlots(['worker.1'])).toEqual({ names: ['worker.1'], unknown: [] });
    await vi.advanceTimersByTimeAsync(1000);
    w.supervisor.restart(['worker.1']);
    await vi.advanceTimersByTimeAsync(3999);
    expect(w.calls).toEqual(['SIGQUIT worker.1']);
    await vi.advanceTimersByTimeAsync(1);
    expect(w.calls).toEqual(['SIGQUIT worker.1', 'SIGKILL worker.1', 'tree SIGKILL worker.1']);
    await settle();
    expect(w.kinds().slice(2)).toEqual(['slot-stopping worker.1', 'restarting worker.1', 'killing worker.1', 'exited worker.1', 'spawned worker.1']);
    expect(w.states()).toEqual({ 'web.1': 'ready', 'worker.1': 'ready' });
    w.supervisor.signal('SIGTERM');
    w.supervisor.signal('SIGTERM');
    await settle();
    expect(await done).toBe(143);
  });

  it('a scale-down during a restart removes the slot once stopped; scaling up again brings it back', async () => {
    const w = world(['web.1', 'web.2'], { onStop: (name) => (name === 'web.2' ? 'ignore' : 'exit') });
    const done = w.supervisor.run();
    await tick();
    w.supervisor.restart(['web.2']);
    expect(w.supervisor.scale('web', 1, w.make)).toEqual({ names: ['web.2'], unknown: [] });
    expect(w.events.at(-1)).toMatchObject({ kind: 'scaled', type: 'web', from: 2, to: 1 });
    await vi.advanceTimersByTimeAsync(5000);
    await settle();
    expect(w.kinds().slice(-3)).toEqual(['killing web.2', 'exited web.2', 'removed web.2']);
    expect(w.states()).toEqual({ 'web.1': 'ready' });
    expect(w.runs).toHaveLength(2);

    w.supervisor.scale('web', 3, w.make);
    expect(w.supervisor.snapshot().map((v) => [v.name, v.port, v.state])).toEqual([
      ['web.1', 5000, 'ready'],
      ['web.2', 5001, 'ready'],
      ['web.3', 5002, 'ready'],
    ]);
    expect(await end(w, done)).toBe(143);
  });

  it('scales a type to 0 and back; tf keeps running with nothing of it', async () => {
    const w = world(['worker.1', 'worker.2']);
    const done = w.supervisor.run();
    await tick();
    w.supervisor.scale('worker', 0, w.make);
    await settle();
    expect(w.calls).toEqual(['SIGTERM worker.2', 'SIGTERM worker.1']);
    expect(w.supervisor.snapshot()).toEqual([]);
    await vi.advanceTimersByTimeAsync(60_000);
    w.supervisor.scale('worker', 2, w.make);
    expect(w.states()).toEqual({ 'worker.1': 'ready', 'worker.2': 'ready' });
    expect(w.runs).toHaveLength(4);
    expect(await end(w, done)).toBe(143);
  });

  it('a stop during back-off leaves it stopped: no restart, no signal to the ended run', async () => {
    const w = world(['web.1', 'worker.1'], { policies: { worker: { restart: 'always' } } });
    const done = w.supervisor.run();
    await tick();
    w.current('worker.1').finish(1);
    await settle();
    expect(w.supervisor.signalSlots('SIGUSR2', ['worker'])).toEqual({ names: [], unknown: [] });
    w.supervisor.stopSlots(['worker.1']);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(w.runs).toHaveLength(2);
    expect(w.calls).toEqual([]);
    expect(w.states()).toEqual({ 'web.1': 'ready', 'worker.1': 'stopped' });
    expect(await end(w, done)).toBe(143);
  });

  it('tf stopping during a back-off: no new run, a quick exit', async () => {
    const w = world(['web.1', 'worker.1'], { policies: { worker: { restart: 'always' } } });
    const done = w.supervisor.run();
    await tick();
    w.current('worker.1').finish(1);
    await settle();
    w.supervisor.signal('SIGINT');
    await vi.advanceTimersByTimeAsync(10);
    expect(await done).toBe(130);
    expect(w.runs).toHaveLength(2);
    expect(w.calls).toEqual(['SIGTERM web.1']);
  });

  it('can-die: exits with any code without stopping the rest; an exit of the others still stops everything', async () => {
    const w = world(['web.1', 'setup.1'], { policies: { setup: { canDie: true } } });
    const done = w.supervisor.run();
    await tick();
    w.current('setup.1').finish(7);
    await vi.advanceTimersByTimeAsync(1000);
    expect(w.states()).toEqual({ 'web.1': 'ready', 'setup.1': 'exited' });
    w.current('web.1').finish(4);
    await vi.advanceTimersByTimeAsync(10);
    expect(await done).toBe(4);
  });

  it('on-failure with exit 0 stays down without stopping the others', async () => {
    const w = world(['web.1', 'worker.1'], { policies: { worker: { restart: 'on-failure' } } });
    const done = w.supervisor.run();
    await tick();
    w.current('worker.1').finish(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(w.states()).toEqual({ 'web.1': 'ready', 'worker.1': 'exited' });
    expect(w.runs).toHaveLength(2);
    expect(await end(w, done)).toBe(143);
  });

  it('ends by itself when everything exited where its policy let it: 0, or 1 when one failed', async () => {
    const ok = world(['setup.1', 'assets.1'], { policies: { setup: { canDie: true }, assets: { restart: 'on-failure' } } });
    const done = ok.supervisor.run();
    await tick();
    ok.current('setup.1').finish(2);
    ok.current('assets.1').finish(0);
    await settle();
    expect(await done).toBe(0);
    expect(ok.events.at(-1)).toMatchObject({ kind: 'stopping', reason: { kind: 'finished', failed: 0 } });

    const bad = world(['job.1'], { policies: { job: { restart: 'always' } } });
    const failed = bad.supervisor.run();
    await tick();
    for (let i = 0; i < 5; i++) {
      bad.current('job.1').finish(1);
      await settle();
      const { restartAt } = bad.supervisor.snapshot()[0] as { restartAt?: number };
      if (restartAt !== undefined) await vi.advanceTimersByTimeAsync(restartAt - Date.now());
    }
    expect(await failed).toBe(1);
    expect(bad.runs).toHaveLength(5);
  });

  it('a slot stopped through control keeps tf up', async () => {
    const w = world(['worker.1']);
    const done = w.supervisor.run();
    await tick();
    w.supervisor.stopSlots(['worker']);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(w.states()).toEqual({ 'worker.1': 'stopped' });
    w.supervisor.restart(['worker.1']);
    expect(w.states()).toEqual({ 'worker.1': 'ready' });
    expect(await end(w, done)).toBe(143);
  });

  it("signals the named instances' groups and names the unknown", async () => {
    const w = world(['web.1', 'web.2', 'worker.1']);
    const done = w.supervisor.run();
    await tick();
    expect(w.supervisor.signalSlots('SIGUSR2', ['web', 'nope'])).toEqual({ names: ['web.1', 'web.2'], unknown: ['nope'] });
    expect(w.calls).toEqual(['SIGUSR2 web.1', 'SIGUSR2 web.2']);
    expect(w.events.at(-1)).toMatchObject({ kind: 'signalled', signal: 'SIGUSR2', names: ['web.1', 'web.2'] });
    expect(await end(w, done)).toBe(143);
  });

  it("reports readiness from the probe, fed the run's output", async () => {
    const seen: string[] = [];
    const probe: ReadinessProbe = () => {
      let resolve!: () => void;
      const ready = new Promise<void>((r) => (resolve = r));
      return {
        ready,
        output: (chunk) => {
          seen.push(chunk.toString());
          if (chunk.includes('listening')) resolve();
        },
        cancel: () => {},
      };
    };
    const w = world(['web.1', 'worker.1'], { policies: { web: { ready: { kind: 'log', text: 'listening' } } }, readiness: probe });
    const done = w.supervisor.run();
    await tick();
    expect(w.states()).toEqual({ 'web.1': 'running', 'worker.1': 'ready' });
    await vi.advanceTimersByTimeAsync(1200);
    w.current('web.1').out.write('listening on 5000\n');
    await tick();
    expect(w.states()['web.1']).toBe('ready');
    expect(seen).toEqual(['listening on 5000\n']);
    expect(w.events.filter((e) => e.kind === 'ready')).toMatchObject([{ instance: { name: 'web.1' }, afterMs: 1200 }]);
    expect(w.supervisor.snapshot()[0]).toMatchObject({ readyAfterMs: 1200 });
    expect(await end(w, done)).toBe(143);
  });

  it("never signals a run's group once its leader has exited, even before the exit is reported", async () => {
    const w = world(['web.1', 'worker.1'], { policies: { worker: { canDie: true } } });
    const done = w.supervisor.run();
    await tick();
    w.current('worker.1').finish(3);
    // The exit is known, its report waits for the pipes: a stop or a signal now must not reach the group.
    expect(w.supervisor.signalSlots('SIGHUP', ['worker.1']).names).toEqual([]);
    w.supervisor.stopSlots(['worker.1']);
    w.supervisor.forward('SIGUSR1');
    await settle();
    expect(w.calls).toEqual(['SIGUSR1 web.1']);
    expect(w.states()).toEqual({ 'web.1': 'ready', 'worker.1': 'stopped' });
    expect(await end(w, done)).toBe(143);
  });

  it('a stop asked for through control ends tf with 0', async () => {
    const w = world(['web.1']);
    const done = w.supervisor.run();
    await tick();
    w.supervisor.stop({ kind: 'requested' });
    await settle();
    expect(await done).toBe(0);
    expect(w.calls).toEqual(['SIGTERM web.1']);
  });

  it("empties a crashed run's group before the next run: its stop signal, SIGKILL after the grace period, then the restart", async () => {
    const lines: string[] = [];
    const w = world(['web.1', 'worker.1'], {
      policies: { worker: { restart: 'always', stopSignal: 'SIGINT' } },
      memberOnStop: 'ignore',
      debug: (l) => lines.push(l),
    });
    const done = w.supervisor.run();
    await tick();
    const first = w.current('worker.1');
    first.members = 1;
    first.finish(1);
    await settle();
    expect(w.calls).toEqual(['SIGINT worker.1']);
    expect(w.kinds().slice(-2)).toEqual(['exited worker.1', 'backoff worker.1']);
    // The back-off (1 s) is over, the group is not empty yet: no new run beside it.
    await vi.advanceTimersByTimeAsync(3000);
    expect(w.runs).toHaveLength(2);
    expect(w.states()['worker.1']).toBe('starting');
    await vi.advanceTimersByTimeAsync(2100);
    expect(w.calls).toEqual(['SIGINT worker.1', 'SIGKILL worker.1']);
    expect(first.members).toBe(0);
    expect(w.runs).toHaveLength(3);
    expect(w.states()['worker.1']).toBe('ready');
    expect(w.supervisor.snapshot()[1]).toMatchObject({ restarts: 1 });
    expect(lines).toEqual([
      expect.stringMatching(/^worker\.1: SIGINT to group 101 \(its leader exited/),
      expect.stringMatching(/^worker\.1: SIGKILL to group 101 \(grace period over/),
    ]);
    expect(w.watched.has(101)).toBe(false);
    expect(await end(w, done)).toBe(143);
  });

  it("restarts after the back-off alone when the crashed run's members leave on the stop signal", async () => {
    const w = world(['web.1', 'worker.1'], { policies: { worker: { restart: 'always' } } });
    const done = w.supervisor.run();
    await tick();
    const first = w.current('worker.1');
    first.members = 2;
    first.finish(1);
    await settle();
    expect(w.calls).toEqual(['SIGTERM worker.1']);
    expect(first.members).toBe(0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(w.runs).toHaveLength(3);
    expect(w.calls).toEqual(['SIGTERM worker.1']);
    expect(await end(w, done)).toBe(143);
  });

  it('a spawn failing at start-up stops everything with 1 whatever the policy, and starts nothing after it', async () => {
    const w = world(['web.1', 'setup.1', 'late.1'], { policies: { setup: { canDie: true } }, unspawnable: ['setup.1'] });
    const done = w.supervisor.run();
    await settle();
    expect(await done).toBe(1);
    expect(w.kinds()).toEqual(['spawned web.1', 'spawn-failed setup.1', 'stopping', 'exited web.1']);
    expect(w.runs.map((r) => r.instance.name)).toEqual(['web.1']);
  });

  it('after start-up, a restart whose spawn fails follows the policy: that slot fails, the rest keep running', async () => {
    const unspawnable: string[] = [];
    const w = world(['web.1', 'worker.1'], { policies: { worker: { restart: 'always' } }, unspawnable });
    const done = w.supervisor.run();
    await tick();
    unspawnable.push('worker.1');
    w.current('worker.1').finish(1);
    await settle();
    await vi.advanceTimersByTimeAsync(1000);
    await settle();
    expect(w.states()).toEqual({ 'web.1': 'ready', 'worker.1': 'failed' });
    expect(w.kinds().at(-1)).toBe('spawn-failed worker.1');
    expect(await end(w, done)).toBe(143);
  });

  it('pauses the pipes of an ended run that a descendant still holds open', async () => {
    const w = world(['web.1', 'setup.1'], { policies: { setup: { canDie: true } } });
    const done = w.supervisor.run();
    await tick();
    const setup = w.current('setup.1');
    setup.exitKeepingPipes(0);
    await vi.advanceTimersByTimeAsync(200);
    expect(w.states()['setup.1']).toBe('exited');
    w.supervisor.pauseOutput();
    expect(setup.out.isPaused()).toBe(true);
    w.supervisor.resumeOutput();
    expect(setup.out.isPaused()).toBe(false);
    setup.out.end();
    setup.err.end();
    setup.emit('close');
    expect(await end(w, done)).toBe(143);
  });
});
