import { constants } from 'node:os';
import type { Instance, InstanceState, OutputStream } from '../domain.js';
import { withMarker, type ProcessRef, type RunMarker } from '../host/process-table.js';
import { exitCodeFor, type StopReason, type SupervisorEvent } from './events.js';
import { realKiller, type Killer } from './kill.js';
import type { OutputPipe } from './pipes.js';
import { PipeCapacity } from '../host/pipe-capacity.js';
import { instanceSpawner, type ChildHandle, type SpawnFn } from './spawn.js';
import { noWatchdog, type Watchdog } from './watchdog.js';

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Everything with a side effect comes in here, so tests can replay histories against fakes. */
export interface SupervisorDeps {
  readonly spawn: SpawnFn;
  readonly killer: Killer;
  readonly watchdog: Watchdog;
  readonly clock: Clock;
}

export interface SupervisorOptions {
  /** Grace period between SIGTERM and SIGKILL. */
  readonly timeoutMs: number;
  /** Diagnostics about tf itself (TF_LOG=debug), one line each. */
  readonly debug?: (line: string) => void;
  /** Added to every instance's environment, so a stop finds what left tf's groups and trees. */
  readonly marker?: RunMarker;
}

export const signalNumber = (signal: NodeJS.Signals): number => constants.signals[signal] ?? 0;

type SignalTable = Readonly<Record<string, { readonly description: string } | undefined>>;
let signalTable: SignalTable | undefined;
/**
 * human-signals (readable descriptions, "Termination" for SIGTERM) is loaded off the
 * start-up path and off the stop path: 50 ms after the instances are spawned, once their
 * first output is through. An exit by signal before that waits for it.
 */
export function loadSignalDescriptions(): Promise<void> {
  if (signalTable !== undefined) return Promise.resolve();
  return import('human-signals').then(
    (m) => void (signalTable = m.signalsByName as SignalTable),
    () => undefined,
  );
}

const SIGNAL_TABLE_DELAY_MS = 50;
const STREAM_CLOSE_WAIT_MS = 100;
/** At the very end, how long to wait for pipes still open, so their last bytes are shown. */
const FINAL_CLOSE_WAIT_MS = 500;
const KILL_WAIT_MS = 2000;
const LINGER_POLL_MS = 25;

interface Entry {
  readonly instance: Instance;
  state: InstanceState;
  pid: number | undefined;
  child: ChildHandle | undefined;
  startedAt: number;
  forced: boolean;
  readonly done: Promise<void>;
  markDone(): void;
  /** Resolves when the child's pipes have closed (or it never had any). */
  readonly closed: Promise<void>;
  markClosed(): void;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * Owns the running instances: spawns them, reports what they do, and stops them all the
 * same way whatever the reason: SIGTERM to every process group, wait for the grace period
 * (or a second signal), SIGKILL what is left with its whole tree.
 */
export class Supervisor {
  private readonly entries: Entry[];
  private readonly deps: SupervisorDeps;
  private reason: StopReason | undefined;
  private readonly stopRequested = deferred();
  private readonly hurried = deferred();
  private paused = false;

  constructor(
    instances: readonly Instance[],
    private readonly options: SupervisorOptions,
    private readonly emit: (event: SupervisorEvent) => void,
    deps: Partial<SupervisorDeps> = {},
  ) {
    this.deps = { killer: realKiller, watchdog: noWatchdog, clock: realClock, ...deps, spawn: deps.spawn ?? instanceSpawner(instances.length, { onFallback: (reason) => this.fifosUnavailable(reason), capacity: new PipeCapacity({ report: options.debug }) }) };
    this.entries = instances.map((instance) => {
      const done = deferred();
      const closed = deferred();
      return {
        instance,
        state: 'starting',
        pid: undefined,
        child: undefined,
        startedAt: 0,
        forced: false,
        done: done.promise,
        markDone: done.resolve,
        closed: closed.promise,
        markClosed: closed.resolve,
      };
    });
  }

  /** Starts everything, waits for a reason to stop, stops everything; resolves to tf's exit code. */
  async run(): Promise<number> {
    for (const entry of this.entries) {
      if (this.reason !== undefined) {
        entry.state = 'exited';
        entry.markDone();
        entry.markClosed();
        continue;
      }
      this.launch(entry);
    }
    this.deps.clock.setTimeout(() => void loadSignalDescriptions(), SIGNAL_TABLE_DELAY_MS);
    await this.stopRequested.promise;
    await this.shutdown();
    return exitCodeFor(this.reason as StopReason, signalNumber);
  }

  /** A signal to tf: the first one stops everything, the next one skips the grace period. */
  signal(signal: NodeJS.Signals): void {
    if (this.reason === undefined) this.stop({ kind: 'signal', signal });
    else this.hurried.resolve();
  }

  stop(reason: StopReason): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    this.emit({ kind: 'stopping', reason });
    this.stopRequested.resolve();
  }

  /** SIGUSR1/SIGUSR2 and the like: passed to every running instance's group. */
  forward(signal: NodeJS.Signals): void {
    const live = this.entries.filter((e) => e.pid !== undefined && e.state !== 'exited');
    for (const entry of live) this.deps.killer.group(entry.pid as number, signal);
    this.emit({ kind: 'forwarded', signal, count: live.length });
  }

  /** Backpressure: stop reading children's output until the reader catches up. */
  pauseOutput(): void {
    if (this.paused) return;
    this.paused = true;
    for (const entry of this.entries) {
      entry.child?.stdout?.pause();
      entry.child?.stderr?.pause();
    }
  }

  resumeOutput(): void {
    if (!this.paused) return;
    this.paused = false;
    for (const entry of this.entries) {
      entry.child?.stdout?.resume();
      entry.child?.stderr?.resume();
    }
  }

  private launch(entry: Entry): void {
    const { instance } = entry;
    let child: ChildHandle;
    try {
      child = this.deps.spawn(this.options.marker === undefined ? instance : { ...instance, env: withMarker(instance.env, this.options.marker) });
    } catch (error) {
      entry.markClosed();
      this.failed(entry, error);
      return;
    }
    const pid = child.pid;
    if (pid === undefined) {
      entry.markClosed();
      child.once('error', (error) => this.failed(entry, error));
      return;
    }
    child.once('close', entry.markClosed);
    entry.child = child;
    entry.pid = pid;
    entry.state = 'running';
    entry.startedAt = this.deps.clock.now();
    this.deps.killer.started(pid);
    this.deps.watchdog.add(pid);
    this.emit({ kind: 'spawned', instance, pid });
    this.pipe(entry, child.stdout, 'stdout');
    this.pipe(entry, child.stderr, 'stderr');
    child.on('error', () => {
      // After a successful spawn, errors concern signalling a process that is already gone.
    });
    child.once('exit', (code, signal) => this.exited(entry, code, signal));
  }

  private pipe(entry: Entry, pipe: OutputPipe | null, name: OutputStream): void {
    if (pipe === null) return;
    const { instance } = entry;
    pipe.read({
      chunk: (chunk) => this.emit({ kind: 'output', instance, stream: name, chunk }),
      end: () => this.emit({ kind: 'output-end', instance, stream: name }),
    });
    if (this.paused) pipe.pause();
  }

  private failed(entry: Entry, error: unknown): void {
    if (entry.state === 'failed') return;
    entry.state = 'failed';
    const message = error instanceof Error ? error.message : String(error);
    this.emit({ kind: 'spawn-failed', instance: entry.instance, error: message });
    entry.markDone();
    this.stop({ kind: 'spawn-failed', instance: entry.instance });
  }

  private exited(entry: Entry, code: number | null, signal: NodeJS.Signals | null): void {
    const stoppedByTf = entry.state === 'stopping' || entry.state === 'killing';
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      this.deps.clock.clearTimeout(timer);
      // An exit by signal right after start-up comes before the descriptions are loaded.
      if (signal !== null && signalTable === undefined) void loadSignalDescriptions().then(() => this.settleExit(entry, code, signal, stoppedByTf));
      else this.settleExit(entry, code, signal, stoppedByTf);
    };
    // Report the exit after the last output: wait for the pipes to close, but not for a
    // descendant that keeps them open after the leader is gone.
    const timer = this.deps.clock.setTimeout(settle, STREAM_CLOSE_WAIT_MS);
    entry.child?.once('close', settle);
  }

  private settleExit(entry: Entry, code: number | null, signal: NodeJS.Signals | null, stoppedByTf: boolean): void {
    const pid = entry.pid as number;
    entry.state = 'exited';
    // Only the cheap check: a group that still answers may hold just zombies, and telling
    // those apart reads the whole process table (~2.5 ms, once per exit). The stop that
    // follows every exit settles the rest (reapLingering).
    if (!this.deps.killer.group(pid, 0)) this.deps.watchdog.remove(pid);
    const exit = {
      code,
      signal,
      signalDescription: signal === null ? undefined : signalTable?.[signal]?.description,
      forced: entry.forced,
      stoppedByTf,
      durationMs: this.deps.clock.now() - entry.startedAt,
    };
    this.emit({ kind: 'exited', instance: entry.instance, pid, exit });
    entry.markDone();
    this.stop({ kind: 'exited', instance: entry.instance, exitCode: code ?? 128 + signalNumber(signal as NodeJS.Signals) });
  }

  /** The output still arrives; only a program that opens /dev/stdout by name is affected. */
  private fifosUnavailable(reason: string): void {
    const message = `no FIFOs for the processes' output (${reason}): using socket pairs, which a program cannot open as /dev/stdout or /dev/stderr; make mkfifo available and $XDG_RUNTIME_DIR, /dev/shm or $TMPDIR writable`;
    this.emit({ kind: 'warning', warning: { message } });
  }

  private delay(ms: number): { promise: Promise<void>; cancel(): void } {
    const { promise, resolve } = deferred();
    const handle = this.deps.clock.setTimeout(resolve, ms);
    return { promise, cancel: () => this.deps.clock.clearTimeout(handle) };
  }

  private allDone(): Promise<void> {
    return Promise.all(this.entries.map((e) => e.done)).then(() => undefined);
  }

  /** Straight-line shutdown: TERM every group, wait, KILL every tree that is left. */
  private async shutdown(): Promise<void> {
    const { killer } = this.deps;
    const started = this.deps.clock.now();
    const groups = this.entries.flatMap((e) => (e.pid === undefined ? [] : [e.pid]));
    const live = this.entries.filter((e) => e.state === 'running');
    // Read the trees before signalling: once a leader exits, its escaped descendants are
    // re-parented and can no longer be found.
    const strays = killer.escapees(live.map((e) => e.pid as number));
    for (const entry of live) entry.state = 'stopping';
    // Every group, also those whose leader already exited but whose members live on.
    for (const pgid of groups) killer.group(pgid, 'SIGTERM');
    for (const pid of strays) killer.pid(pid, 'SIGTERM');
    // Daemons: the marker finds what left every group and tree (re-parented, new session).
    const marked = killer.marked(groups, strays);
    for (const pid of marked) killer.pid(pid, 'SIGTERM');

    const grace = this.delay(this.options.timeoutMs);
    await Promise.race([this.allDone(), grace.promise, this.hurried.promise]);

    const left = this.entries.filter((e) => e.state === 'stopping');
    for (const entry of left) {
      const pid = entry.pid as number;
      entry.state = 'killing';
      entry.forced = true;
      this.emit({ kind: 'killing', instance: entry.instance, pid, graceMs: this.deps.clock.now() - started });
      killer.group(pid, 'SIGKILL');
      killer.tree(pid, 'SIGKILL');
    }
    if (left.length > 0) {
      const bound = this.delay(KILL_WAIT_MS);
      await Promise.race([this.allDone(), bound.promise]);
      bound.cancel();
    }

    await this.reapLingering(grace.promise, groups, [...strays, ...marked]);
    grace.cancel();

    // Everything is dead now; the last bytes may still be in the pipes.
    const closing = this.delay(FINAL_CLOSE_WAIT_MS);
    await Promise.race([Promise.all(this.entries.map((e) => e.closed)), closing.promise]);
    closing.cancel();
  }

  /**
   * Processes that outlive their leader cannot be waited for (they are not our children),
   * so they are polled, only here, until the grace period ends, then killed.
   */
  private async reapLingering(graceOver: Promise<void>, groups: readonly number[], strays: readonly ProcessRef[]): Promise<void> {
    const { killer, watchdog } = this.deps;
    let over = false;
    void Promise.race([graceOver, this.hurried.promise]).then(() => (over = true));
    // What still runs after the leaders is often about to exit too (a child finishing its
    // own cleanup): poll soon, then less often, up to LINGER_POLL_MS.
    let alive = killer.stillAlive(groups, strays);
    for (let wait = 1; alive.groups.length + alive.pids.length > 0 && !over; wait = Math.min(2 * wait, LINGER_POLL_MS)) {
      await this.delay(wait).promise;
      alive = killer.stillAlive(alive.groups, alive.pids);
    }
    for (const pgid of alive.groups) killer.group(pgid, 'SIGKILL');
    for (const pid of alive.pids) killer.pid(pid, 'SIGKILL');
    // What a process carrying the marker started during the stop.
    for (const pid of killer.marked(groups, alive.pids)) killer.pid(pid, 'SIGKILL');
    for (const pgid of groups) watchdog.remove(pgid);
  }
}
