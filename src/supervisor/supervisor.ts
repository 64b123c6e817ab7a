import type { Instance, OutputStream } from '../domain.js';
import type { FifoMaker } from '../host/fifos.js';
import { withMarker, type ProcessRef, type RunMarker } from '../host/process-table.js';
import { signalNumber } from '../host/signals.js';
import { defaultBackoff, type BackoffRules } from './backoff.js';
import { exitCodeFor, type ExitFacts, type StopReason, type SupervisorEvent } from './events.js';
import { realKiller, type Killer } from './kill.js';
import type { OutputPipe } from './pipes.js';
import type { ReadinessProbe, ReadinessWatch } from './readiness.js';
import { isDown, transition, type Effect, type SlotEvent, type SlotState, type SlotStateName } from './slot.js';
import { instanceSpawner, type ChildHandle, type SpawnFn } from './spawn.js';
import { noWatchdog, type Watchdog } from './watchdog.js';
import { realClock, type Clock } from '../host/clock.js';

export { realClock, type Clock } from '../host/clock.js';

type SignalTable = Partial<Record<string, { readonly description: string }>>;

/** human-signals builds its tables when it is loaded: required at an exit by a signal (require keeps the module), not at each start. */
function signalDescription(signal: NodeJS.Signals): string | undefined {
  return ((require('human-signals') as typeof import('human-signals')).signalsByName as SignalTable)[signal]?.description;
}

/** Everything with a side effect comes in here, so tests can replay histories against fakes. */
export interface SupervisorDeps {
  readonly spawn: SpawnFn;
  readonly killer: Killer;
  readonly watchdog: Watchdog;
  readonly clock: Clock;
  /** Watches each run until it is ready; without one, every run is ready once spawned. */
  readonly readiness: ReadinessProbe | undefined;
}

export interface SupervisorOptions {
  /** Grace period between the stop signal and SIGKILL. */
  readonly timeoutMs: number;
  /** Delays between restarts and when a crash loop gives up; defaultBackoff otherwise. */
  readonly backoff?: BackoffRules;
  /** Diagnostics about tf itself (TF_LOG=debug), one line each. */
  readonly debug?: (line: string) => void;
  /** stdout and stderr through two pipes instead of one (see instanceSpawner): their relative order is lost. */
  readonly splitStderr?: boolean;
  /** Added to every instance's environment, so a stop finds what left tf's groups and trees. */
  readonly marker?: RunMarker;
  /** Makes the instances' FIFOs (see instanceSpawner); `tf start` passes one it has prepared. */
  readonly fifos?: FifoMaker;
  /**
   * Runs until `stop`, even once every instance ended on its own: `tf run --with`'s command decides
   * when the services go, and a can-die service that is done must not end the run under it.
   */
  readonly untilStopped?: boolean;
}

// commands/run.ts still imports it from here; host/signals.ts owns it.
export { signalNumber };

const STREAM_CLOSE_WAIT_MS = 100;
/**
 * At the very end, how long to read pipes still open (held by a process tf could not stop),
 * so their last bytes are shown; time the output spends paused for a slow reader is not counted.
 */
const FINAL_CLOSE_WAIT_MS = 500;
const KILL_WAIT_MS = 2000;
const LINGER_POLL_MS = 25;

/** One process in a slot, with what the supervisor holds of it. */
interface Run {
  readonly pid: number;
  readonly child: ChildHandle;
  readonly startedAt: number;
  readonly watch: ReadinessWatch;
  /** Its pipes have all closed (a descendant may hold them open after the leader is gone). */
  readonly closed: Promise<void>;
  /** Its leader has exited: its group is never signalled again (its pgid may be reused). */
  ended: boolean;
}

/** One planned instance and its current run; see slot.ts. */
interface Slot {
  instance: Instance;
  /** A fresh Instance (re-read config) for its next run. */
  next: Instance | undefined;
  state: SlotState;
  run: Run | undefined;
  timer: unknown;
  /** Runs started in this slot; every one after the first is a restart. */
  runs: number;
  lastExit: ExitFacts | undefined;
  /** The last run's group, still being emptied after its leader exited: the next run waits for it. */
  draining: Promise<void> | undefined;
}

/**
 * Where the supervisor is in its life. `starting` lasts until every spawn of the start-up has
 * an outcome: a spawn that fails then stops everything whatever the slot's policy. `wake`
 * ends run()'s wait for a reason to stop.
 */
type Phase =
  | { readonly kind: 'idle' }
  | { readonly kind: 'starting'; readonly wake: () => void }
  | { readonly kind: 'running'; readonly wake: () => void }
  | { readonly kind: 'stopping'; readonly reason: StopReason }
  | { readonly kind: 'stopped'; readonly reason: StopReason };

/** One row of `tf ps`. */
export interface SlotView {
  readonly name: string;
  readonly type: string;
  readonly state: SlotStateName;
  readonly pid: number | undefined;
  readonly port: number;
  /** When the current run started (the clock's ms), and for how long it has run. */
  readonly startedAt: number | undefined;
  readonly uptimeMs: number | undefined;
  readonly restarts: number;
  readonly lastExit: { readonly code: number | null; readonly signal: NodeJS.Signals | null } | undefined;
  readonly readyAfterMs: number | undefined;
  /** In backoff: when the next run starts. */
  readonly restartAt: number | undefined;
  /** In failed: why. */
  readonly reason: string | undefined;
}

/** What a control call did: the instances it acted on, and the names that matched none. */
export interface ControlResult {
  readonly names: readonly string[];
  readonly unknown: readonly string[];
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Settles a one-shot notification and gives the next one: for what recurs (each pause, each signal). */
function renewed(current: ReturnType<typeof deferred>): ReturnType<typeof deferred> {
  current.resolve();
  return deferred();
}

const readyAtOnce: ReadinessWatch = { ready: Promise.resolve(), output() {}, cancel() {} };

/**
 * Owns the slots and their runs: starts them, reports what they do, restarts them as their
 * policy says, and stops them all the same way whatever the reason: the stop signal to every
 * process group, wait for the grace period (or a second signal), SIGKILL what is left with
 * its whole tree. Slot states change only through slot.ts's transition; this class carries
 * out its effects.
 */
export class Supervisor {
  private readonly slots: Slot[];
  private readonly deps: SupervisorDeps;
  private readonly backoff: BackoffRules;
  private phase: Phase = { kind: 'idle' };
  private readonly hurried = deferred();
  private paused = false;
  /** Settles at the next pause or resume of the output, then is replaced. */
  private outputTurn = deferred();
  /** Settles at the next signal to tf once it is stopping, then is replaced: the user will not wait longer. */
  private nextSignal = deferred();
  /**
   * Groups whose leader exited while members lived on, until found empty: being stopped
   * (drain), or, once tf stops everything, signalled and reaped by the final stop.
   */
  private readonly lingering = new Set<number>();
  /** Runs whose pipes are not all closed: paused with the rest, and waited for at the very end. */
  private readonly open = new Set<Run>();
  private idleWaiters: (() => void)[] = [];

  constructor(
    instances: readonly Instance[],
    private readonly options: SupervisorOptions,
    private readonly emit: (event: SupervisorEvent) => void,
    deps: Partial<SupervisorDeps> = {},
  ) {
    const watchdog = deps.watchdog ?? noWatchdog;
    this.deps = {
      killer: realKiller,
      watchdog,
      clock: realClock,
      readiness: undefined,
      ...deps,
      spawn:
        deps.spawn ??
        instanceSpawner(instances.length, {
          onFallback: (reason) => this.fifosUnavailable(reason),
          onFifoDirectory: (path, inode) => watchdog.fifoDirectory(path, inode),
          splitStderr: options.splitStderr === true,
          ...(options.fifos === undefined ? {} : { fifos: options.fifos }),
        }),
    };
    this.backoff = options.backoff ?? defaultBackoff;
    this.slots = instances.map((instance) => this.newSlot(instance));
  }

  /** Starts everything, waits for a reason to stop, stops everything; resolves to tf's exit code. */
  async run(): Promise<number> {
    if (this.phase.kind === 'idle') {
      const { promise, resolve } = deferred();
      this.phase = { kind: 'starting', wake: resolve };
      for (const slot of [...this.slots]) {
        if (!this.startingUp()) break;
        this.dispatch(slot, { kind: 'start', at: this.now() });
        // Its spawn comes back without a pid: its error follows, and stops everything.
        if (slot.state.kind === 'starting') break;
      }
      this.startUpOver();
      await promise;
    }
    await this.shutdown();
    const reason = (this.phase as Extract<Phase, { kind: 'stopping' }>).reason;
    this.phase = { kind: 'stopped', reason };
    return exitCodeFor(reason);
  }

  /** A signal to tf: the first one stops everything, the next one skips the grace period. */
  signal(signal: NodeJS.Signals): void {
    if (this.stopping()) {
      this.hurry();
      this.nextSignal = renewed(this.nextSignal);
    } else this.stop({ kind: 'signal', signal });
  }

  /** Stops the whole supervisor (signal, output closed, `tf stop`, foreman's stop-all). */
  stop(reason: StopReason): void {
    const phase = this.phase;
    if (phase.kind === 'stopping' || phase.kind === 'stopped') return;
    this.phase = { kind: 'stopping', reason };
    this.debug(`stopping everything: ${reason.kind}`);
    this.emit({ kind: 'stopping', reason });
    if (phase.kind !== 'idle') phase.wake();
  }

  /** SIGUSR1/SIGUSR2 and the like: passed to every running instance's group. */
  forward(signal: NodeJS.Signals): void {
    const live = this.liveRuns(this.slots);
    for (const run of live) this.deps.killer.group(run.pid, signal);
    this.emit({ kind: 'forwarded', signal, count: live.length });
  }

  /** Backpressure: stop reading children's output until the reader catches up. */
  pauseOutput(): void {
    if (this.paused) return;
    this.paused = true;
    // Every open run: an ended one's pipes may still be held open, and written to, by a descendant.
    for (const run of this.open) for (const { pipe } of run.child.pipes) pipe.pause();
    this.outputTurn = renewed(this.outputTurn);
  }

  resumeOutput(): void {
    if (!this.paused) return;
    this.paused = false;
    for (const run of this.open) for (const { pipe } of run.child.pipes) pipe.resume();
    this.outputTurn = renewed(this.outputTurn);
  }

  // --- control: what `tf restart / stop / scale / signal / ps` ask for ---

  /**
   * Restarts the named instances or types (none: all): a graceful stop with the type's stop
   * signal, SIGKILL after the grace period, then a new run in the same slot, same name and
   * PORT. A slot that is down starts at once. `refresh` gives each slot's Instance for its next
   * run (the config re-read); without it the slot keeps its Instance.
   */
  restart(names: readonly string[], refresh?: (current: Instance) => Instance): ControlResult {
    const { slots, unknown } = this.select(names);
    if (this.stopping()) return { names: [], unknown };
    for (const slot of slots) {
      if (refresh !== undefined) slot.next = refresh(slot.next ?? slot.instance);
      this.emit({ kind: 'restarting', instance: slot.instance });
      this.dispatch(slot, this.stopEvent('restart'));
    }
    return { names: slots.map((s) => s.instance.name), unknown };
  }

  /** Stops the named instances or types gracefully; they stay listed as stopped, the rest keep running. */
  stopSlots(names: readonly string[]): ControlResult {
    const { slots, unknown } = this.select(names);
    if (this.stopping()) return { names: [], unknown };
    const acted = slots.filter((slot) => !isDown(slot.state));
    for (const slot of acted) {
      this.emit({ kind: 'slot-stopping', instance: slot.instance });
      this.dispatch(slot, this.stopEvent('stay'));
    }
    return { names: acted.map((s) => s.instance.name), unknown };
  }

  /**
   * Sets how many instances of `type` run. New slots get `makeInstance(number)` (the caller
   * gives them foreman's ports); scaling down stops the highest-numbered gracefully and
   * removes them once their run has ended.
   */
  scale(type: string, count: number, makeInstance: (index: number) => Instance): ControlResult {
    if (this.stopping()) return { names: [], unknown: [] };
    const staying = this.slots.filter((s) => s.instance.type === type && !this.leaving(s)).sort((a, b) => a.instance.number - b.instance.number);
    const from = staying.length;
    const acted: string[] = [];
    for (const slot of staying.slice(count).reverse()) {
      acted.push(slot.instance.name);
      this.dispatch(slot, this.stopEvent('remove'));
    }
    for (let index = from + 1; index <= count; index++) {
      const instance = makeInstance(index);
      acted.push(instance.name);
      const leaving = this.slots.find((s) => s.instance.name === instance.name);
      if (leaving !== undefined) {
        // Still being scaled away: it gets its new Instance and runs again once stopped.
        leaving.next = instance;
        this.dispatch(leaving, { kind: 'revive', at: this.now() });
        continue;
      }
      const slot = this.newSlot(instance);
      let last = this.slots.length;
      for (let i = 0; i < this.slots.length; i++) if ((this.slots[i] as Slot).instance.type === type) last = i + 1;
      this.slots.splice(last, 0, slot);
      this.dispatch(slot, { kind: 'start', at: this.now() });
    }
    if (count !== from) this.emit({ kind: 'scaled', type, from, to: count });
    return { names: acted, unknown: [] };
  }

  /** Sends `signal` to the process groups of the named instances or types (none: all) that run. */
  signalSlots(signal: NodeJS.Signals, names: readonly string[]): ControlResult {
    const { slots, unknown } = this.select(names);
    const reached = slots.filter((slot) => this.alive(slot.run));
    for (const slot of reached) this.deps.killer.group((slot.run as Run).pid, signal);
    const acted = reached.map((s) => s.instance.name);
    if (acted.length > 0) this.emit({ kind: 'signalled', signal, names: acted });
    return { names: acted, unknown };
  }

  /** One row per slot, in formation order: what `tf ps` shows. */
  snapshot(): SlotView[] {
    const now = this.now();
    return this.slots.map(({ instance, state, run, runs, lastExit }) => ({
      name: instance.name,
      type: instance.type,
      state: state.kind,
      pid: run?.pid,
      port: instance.port,
      startedAt: run?.startedAt,
      uptimeMs: run === undefined ? undefined : now - run.startedAt,
      restarts: Math.max(0, runs - 1),
      lastExit: lastExit === undefined ? undefined : { code: lastExit.code, signal: lastExit.signal },
      readyAfterMs: state.kind === 'ready' ? state.readyAfterMs : undefined,
      restartAt: state.kind === 'backoff' ? state.until : undefined,
      reason: state.kind === 'failed' ? state.reason : undefined,
    }));
  }

  // --- the state machine's interpreter ---

  private newSlot(instance: Instance): Slot {
    return { instance, next: undefined, state: { kind: 'stopped' }, run: undefined, timer: undefined, runs: 0, lastExit: undefined, draining: undefined };
  }

  private stopping(): boolean {
    return this.phase.kind === 'stopping' || this.phase.kind === 'stopped';
  }

  private startingUp(): boolean {
    return this.phase.kind === 'starting';
  }

  /**
   * After the start-up loop: over once every spawn it began has an outcome. A spawn without
   * a pid is a failure whose error is still to come; its spawn-failed then stops everything.
   */
  private startUpOver(): void {
    const phase = this.phase;
    if (phase.kind !== 'starting' || this.slots.some((s) => s.state.kind === 'starting')) return;
    this.phase = { kind: 'running', wake: phase.wake };
    this.checkFinished();
  }

  /** Why tf signalled what (TF_LOG=debug). */
  private debug(line: string): void {
    this.options.debug?.(line);
  }

  private now(): number {
    return this.deps.clock.now();
  }

  private stopEvent(then: 'stay' | 'restart' | 'remove'): SlotEvent {
    const at = this.now();
    return { kind: 'stop', then, at, deadline: at + this.options.timeoutMs };
  }

  /** Names and types, in formation order; none means every slot. */
  private select(names: readonly string[]): { slots: Slot[]; unknown: string[] } {
    const live = this.slots.filter((s) => s.state.kind !== 'removed');
    if (names.length === 0) return { slots: live, unknown: [] };
    const unknown = names.filter((n) => !live.some((s) => s.instance.name === n || s.instance.type === n));
    return { slots: live.filter((s) => names.includes(s.instance.name) || names.includes(s.instance.type)), unknown };
  }

  private leaving(slot: Slot): boolean {
    return slot.state.kind === 'removed' || (slot.state.kind === 'stopping' && slot.state.then === 'remove');
  }

  private alive(run: Run | undefined): run is Run {
    return run !== undefined && !run.ended;
  }

  private liveRuns(slots: readonly Slot[]): Run[] {
    return slots.flatMap((s) => (this.alive(s.run) ? [s.run] : []));
  }

  private dispatch(slot: Slot, event: SlotEvent): void {
    const { state, effects } = transition(slot.state, event, { instance: slot.instance, backoff: this.backoff, startingUp: this.startingUp() });
    slot.state = state;
    for (const effect of effects) this.apply(slot, effect);
    this.changed();
  }

  private apply(slot: Slot, effect: Effect): void {
    const { killer } = this.deps;
    switch (effect.kind) {
      case 'spawn':
        return this.launch(slot);
      case 'signal':
        if (this.alive(slot.run) && slot.run.pid === effect.pid) {
          this.debug(`${slot.instance.name}: ${effect.signal} to group ${effect.pid} (asked to stop)`);
          killer.group(effect.pid, effect.signal);
        }
        return;
      case 'kill':
        if (this.alive(slot.run) && slot.run.pid === effect.pid) {
          this.debug(`${slot.instance.name}: SIGKILL to group ${effect.pid} and its tree (grace period over or second signal)`);
          killer.group(effect.pid, 'SIGKILL');
          killer.tree(effect.pid, 'SIGKILL');
        }
        return;
      case 'set-timer':
        this.cancelTimer(slot);
        slot.timer = this.deps.clock.setTimeout(() => {
          slot.timer = undefined;
          this.dispatch(slot, { kind: 'timer', at: this.now() });
        }, effect.ms);
        return;
      case 'cancel-timer':
        return this.cancelTimer(slot);
      case 'cancel-probe':
        slot.run?.watch.cancel();
        return;
      case 'emit':
        return this.emit(effect.event);
      case 'stop-all':
        return this.stop(effect.reason);
      case 'remove': {
        this.cancelTimer(slot);
        this.slots.splice(this.slots.indexOf(slot), 1);
        this.emit({ kind: 'removed', instance: slot.instance });
        return;
      }
    }
  }

  private cancelTimer(slot: Slot): void {
    if (slot.timer === undefined) return;
    this.deps.clock.clearTimeout(slot.timer);
    slot.timer = undefined;
  }

  private launch(slot: Slot): void {
    if (slot.draining !== undefined) {
      // The last run's group still has members: the next run starts once it is empty or killed,
      // so a restart never runs beside what is left of the run before it.
      const draining = slot.draining;
      void draining.then(() => {
        if (slot.draining === draining) slot.draining = undefined;
        if (slot.state.kind === 'starting' && slot.run === undefined) this.launch(slot);
      });
      return;
    }
    if (slot.next !== undefined) {
      slot.instance = slot.next;
      slot.next = undefined;
    }
    const { instance } = slot;
    const failed = (error: unknown): void => {
      const code = (error as { code?: unknown } | undefined)?.code;
      this.dispatch(slot, {
        kind: 'spawn-failed',
        error: error instanceof Error ? error.message : String(error),
        ...(typeof code === 'string' ? { code } : {}),
        at: this.now(),
      });
    };
    let child: ChildHandle;
    try {
      child = this.deps.spawn(this.options.marker === undefined ? instance : { ...instance, env: withMarker(instance.env, this.options.marker) });
    } catch (error) {
      failed(error);
      return;
    }
    const pid = child.pid;
    if (pid === undefined) {
      // The spawn failed; its error follows. The slot stays `starting` until then.
      child.once('error', failed);
      return;
    }
    const { readiness } = this.deps;
    const probed = readiness !== undefined && instance.policy.ready.kind !== 'none';
    const closed = deferred();
    const run: Run = { pid, child, startedAt: this.now(), watch: probed ? readiness(instance, pid) : readyAtOnce, closed: closed.promise, ended: false };
    this.open.add(run);
    child.once('close', () => {
      this.open.delete(run);
      closed.resolve();
    });
    slot.run = run;
    slot.runs++;
    // Read once: the killer keeps it to tell a reused pid, the watchdog gets the same.
    this.deps.watchdog.add(this.deps.killer.started(pid) ?? { pid, startTime: '-' });
    this.dispatch(slot, { kind: 'spawned', pid, at: run.startedAt });
    if (probed) void run.watch.ready.then(() => slot.run === run && !run.ended && this.dispatch(slot, { kind: 'ready', at: this.now(), announce: true }));
    else this.dispatch(slot, { kind: 'ready', at: run.startedAt, announce: false });
    for (const { stream, pipe } of child.pipes) this.pipe(slot, run, pipe, stream);
    child.on('error', () => {
      // After a successful spawn, errors concern signalling a process that is already gone.
    });
    child.once('exit', (code, signal) => this.exited(slot, run, code, signal));
  }

  private pipe(slot: Slot, run: Run, pipe: OutputPipe, name: OutputStream): void {
    // The run's own Instance: a restart with a fresh one must not re-label this run's last lines.
    const { instance } = slot;
    pipe.read({
      chunk: (chunk) => {
        run.watch.output(chunk);
        this.emit({ kind: 'output', instance, stream: name, chunk });
      },
      end: () => this.emit({ kind: 'output-end', instance, stream: name }),
    });
    if (this.paused) pipe.pause();
  }

  private exited(slot: Slot, run: Run, code: number | null, signal: NodeJS.Signals | null): void {
    run.ended = true;
    run.watch.cancel();
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      this.deps.clock.clearTimeout(timer);
      this.settleExit(slot, run, code, signal);
    };
    // Report the exit after the last output: wait for the pipes to close, but not for a
    // descendant that keeps them open after the leader is gone.
    const timer = this.deps.clock.setTimeout(settle, STREAM_CLOSE_WAIT_MS);
    run.child.once('close', settle);
  }

  private settleExit(slot: Slot, run: Run, code: number | null, signal: NodeJS.Signals | null): void {
    const { pid } = run;
    // Only the cheap check: a group that still answers may hold just zombies, which the
    // drain's closer look (stillAlive) tells apart.
    const lingers = this.deps.killer.group(pid, 0);
    if (lingers) {
      this.lingering.add(pid);
      if (!this.stopping()) {
        const draining = this.drain(slot, pid);
        slot.draining = draining;
        void draining.then(() => {
          if (slot.draining === draining) slot.draining = undefined;
        });
      }
    } else this.forget(pid);
    const state = slot.state;
    const stopping = state.kind === 'stopping' && state.run.pid === pid;
    // The signal tf sent to stop it needs no gloss ("exited on SIGTERM"); any other signal gets one,
    // a SIGKILL from elsewhere (the OOM killer) too.
    const sentByTf = stopping && (signal === slot.instance.policy.stopSignal || (signal === 'SIGKILL' && state.forced));
    const exit: ExitFacts = {
      code,
      signal,
      signalDescription: signal === null || sentByTf ? undefined : signalDescription(signal),
      forced: stopping && state.forced,
      stoppedByTf: stopping,
      durationMs: this.now() - run.startedAt,
    };
    if (slot.run === run) slot.run = undefined;
    slot.lastExit = exit;
    this.dispatch(slot, { kind: 'exit', pid, exit, at: this.now() });
  }

  /**
   * A run's leader exited while its group lives on, and tf is not stopping everything: the
   * type's stop signal to the group, SIGKILL after the grace period, resolved once the group
   * is empty (or tf stops everything, whose final stop takes over). The group of a leader tf
   * started is still tf's while it has members: Linux does not hand its number to a new process.
   */
  private async drain(slot: Slot, pgid: number): Promise<void> {
    const { killer } = this.deps;
    const { name, policy } = slot.instance;
    this.debug(`${name}: ${policy.stopSignal} to group ${pgid} (its leader exited, members remain)`);
    killer.group(pgid, policy.stopSignal);
    const deadline = this.now() + this.options.timeoutMs;
    let killed = false;
    for (let wait = 1; !this.stopping(); wait = Math.min(2 * wait, LINGER_POLL_MS)) {
      if (killer.stillAlive([pgid], []).groups.length === 0) {
        this.lingering.delete(pgid);
        this.forget(pgid);
        break;
      }
      if (!killed && this.now() >= deadline) {
        killed = true;
        this.debug(`${name}: SIGKILL to group ${pgid} (grace period over, members remain)`);
        killer.group(pgid, 'SIGKILL');
      }
      await this.delay(killed ? wait : Math.min(wait, Math.max(1, deadline - this.now()))).promise;
    }
  }

  /** A group tf is done with: neither the watchdog nor the killer keeps it. */
  private forget(pgid: number): void {
    this.deps.watchdog.remove(pgid);
    this.deps.killer.release(pgid);
  }

  /** After every change: wakes the final stop when nothing runs, and ends tf when nothing is left to supervise. */
  private changed(): void {
    if (this.idleWaiters.length > 0 && this.idle()) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of waiters) wake();
    }
    this.checkFinished();
  }

  /** No run and no spawn pending in any slot. */
  private idle(): boolean {
    return this.slots.every((s) => s.run === undefined && s.state.kind !== 'starting');
  }

  private whenIdle(): Promise<void> {
    if (this.idle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Every slot ended on its own (its policy let it stay down) or failed, and nothing will
   * start by itself: tf ends, as foreman does once nothing is left. A slot stopped or scaled
   * away through control keeps tf up: the user parked it and may start it again.
   */
  private checkFinished(): void {
    if (this.options.untilStopped === true || this.phase.kind !== 'running' || this.slots.length === 0 || !this.idle()) return;
    if (!this.slots.every((s) => s.state.kind === 'exited' || s.state.kind === 'failed')) return;
    this.stop({ kind: 'finished', failed: this.slots.filter((s) => s.state.kind === 'failed').length });
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

  private hurry(): void {
    this.hurried.resolve();
    for (const slot of [...this.slots]) this.dispatch(slot, { kind: 'hurry', at: this.now() });
  }

  /**
   * Straight-line shutdown, composed from per-slot stops: the stop signal to every group at
   * once, one deadline for all (each slot SIGKILLs its tree then), and the wait for them all.
   */
  private async shutdown(): Promise<void> {
    const { killer } = this.deps;
    const at = this.now();
    const live = this.liveRuns(this.slots);
    // Read the trees before signalling: once a leader exits, its escaped descendants are
    // re-parented and can no longer be found.
    const strays = killer.escapees(live.map((run) => run.pid));
    // Groups whose leader is gone but whose members lived on at its exit: the cheap check
    // again right before the signal, as the group may have emptied since.
    const lingering = [...this.lingering].filter((pgid) => killer.group(pgid, 0));
    const groups = [...live.map((run) => run.pid), ...lingering];
    for (const slot of [...this.slots]) this.dispatch(slot, { kind: 'stop', then: 'stay', at, deadline: at + this.options.timeoutMs });
    for (const pgid of lingering) killer.group(pgid, 'SIGTERM');
    for (const pid of strays) killer.pid(pid, 'SIGTERM');
    // Daemons: the marker finds what left every group and tree (re-parented, new session); they
    // get the stop signal with everyone else, and the same grace period. The pid counter is read
    // first: if it has not moved by the end, nothing was started meanwhile and no second scan is needed.
    const counter = killer.lastPid?.();
    const marked = killer.marked(groups, strays);
    for (const pid of marked) killer.pid(pid, 'SIGTERM');
    if (lingering.length > 0) this.debug(`SIGTERM to groups ${lingering.join(' ')} (their leaders exited, members remain)`);
    if (strays.length > 0) this.debug(`SIGTERM to ${strays.map((p) => p.pid).join(' ')} (left their leader's group)`);
    if (marked.length > 0) this.debug(`SIGTERM to ${marked.map((p) => p.pid).join(' ')} (carry the run's marker outside tf's groups and trees)`);

    const grace = this.delay(this.options.timeoutMs);
    const graceOver = Promise.race([grace.promise, this.hurried.promise]);
    await Promise.race([this.whenIdle(), graceOver]);
    if (!this.idle()) {
      // The slots' own deadlines SIGKILL their trees; a second signal (maybe before the
      // stops above) does it now. Then the wait for the exits is bounded.
      for (const slot of [...this.slots]) this.dispatch(slot, { kind: 'hurry', at: this.now() });
      const bound = this.delay(KILL_WAIT_MS);
      await Promise.race([this.whenIdle(), bound.promise]);
      bound.cancel();
    }

    await this.reapLingering(graceOver, groups, [...strays, ...marked], counter);
    grace.cancel();

    // Everything is dead now; the last bytes may still be in the pipes.
    await this.lastBytes();
  }

  /**
   * Reads the pipes still open until they close: up to FINAL_CLOSE_WAIT_MS of reading, which
   * stops counting while the output is paused for a slow reader of tf's stdout. A pipe full of
   * what a stopped child wrote is then read to its end, as one of a child that exited on its own
   * is, unless a signal to tf says not to wait (a reader that never reads would hold tf forever).
   */
  private async lastBytes(): Promise<void> {
    const closed = Promise.all([...this.open].map((run) => run.closed));
    let done = false;
    const interrupted = this.nextSignal.promise;
    void Promise.race([closed, interrupted]).then(() => (done = true));
    let left = FINAL_CLOSE_WAIT_MS;
    while (!done && left > 0) {
      const turn = this.outputTurn.promise;
      if (this.paused) {
        await Promise.race([closed, turn, interrupted]);
        continue;
      }
      const from = this.now();
      const wait = this.delay(left);
      await Promise.race([closed, wait.promise, turn, interrupted]);
      wait.cancel();
      left -= this.now() - from;
    }
  }

  /**
   * Processes that outlive their leader cannot be waited for (they are not our children),
   * so they are polled, only here, until the grace period ends, then killed. Then what a
   * process carrying the marker started during the stop: looked for only when the pid counter
   * moved since the first scan (or cannot be read), so a stop that started nothing scans once.
   */
  private async reapLingering(graceOver: Promise<void>, groups: readonly number[], strays: readonly ProcessRef[], counter: number | undefined): Promise<void> {
    const { killer } = this.deps;
    let over = false;
    void graceOver.then(() => (over = true));
    // What still runs after the leaders is often about to exit too (a child finishing its
    // own cleanup): poll soon, then less often, up to LINGER_POLL_MS.
    let alive = killer.stillAlive(groups, strays);
    for (let wait = 1; alive.groups.length + alive.pids.length > 0 && !over; wait = Math.min(2 * wait, LINGER_POLL_MS)) {
      await this.delay(wait).promise;
      alive = killer.stillAlive(alive.groups, alive.pids);
    }
    if (alive.groups.length + alive.pids.length > 0)
      this.debug(`SIGKILL to groups ${alive.groups.join(' ') || '-'} and processes ${alive.pids.map((p) => p.pid).join(' ') || '-'} (grace period over)`);
    for (const pgid of alive.groups) killer.group(pgid, 'SIGKILL');
    for (const pid of alive.pids) killer.pid(pid, 'SIGKILL');
    if (counter === undefined || killer.lastPid?.() !== counter) {
      const late = killer.marked(groups, alive.pids);
      if (late.length > 0) this.debug(`SIGKILL to ${late.map((p) => p.pid).join(' ')} (carry the run's marker, started during the stop)`);
      for (const pid of late) killer.pid(pid, 'SIGKILL');
    }
    for (const pgid of new Set([...groups, ...this.lingering])) this.forget(pgid);
    this.lingering.clear();
  }
}
