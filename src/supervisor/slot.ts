import type { Instance, TypePolicy } from '../domain.js';
import { exitCodeForSignal } from '../host/signals.js';
import { backoffDelay, nextStreak, type BackoffRules } from './backoff.js';
import type { ExitFacts, StopReason, SupervisorEvent } from './events.js';

/**
 * A slot is one planned instance (`web.2`: its Instance, port and policy); a run is one
 * process in it. Slots outlive runs: a restart is a new run in the same slot, scaling adds or
 * removes slots. This module holds a slot's state and the one pure function that moves it;
 * the supervisor only carries out the effects.
 */

/** The run a state refers to: enough to signal it and to tell its uptime. */
export interface RunInfo {
  readonly pid: number;
  readonly startedAt: number;
}

/** What follows once a stopping run has ended. */
export type AfterStop =
  /** It stays down, listed as stopped. */
  | 'stay'
  /** A new run starts in the same slot (restart through control). */
  | 'restart'
  /** The slot leaves the formation (scale-down). */
  | 'remove';

/** The states `tf ps` shows, one name each. */
export type SlotState =
  /** A run is being spawned and has no pid yet. `streak`: quick exits in a row before it. */
  | { readonly kind: 'starting'; readonly streak: number }
  /** Its run is alive and its readiness probe has not passed yet. */
  | { readonly kind: 'running'; readonly run: RunInfo; readonly streak: number }
  /** Its run is alive and ready (at once for probe `none`). */
  | { readonly kind: 'ready'; readonly run: RunInfo; readonly streak: number; readonly readyAfterMs: number }
  /**
   * tf sent the stop signal at `since` and SIGKILLs the tree at `deadline` (`forced` once it
   * has); `then` says what happens once the run has ended.
   */
  | { readonly kind: 'stopping'; readonly run: RunInfo; readonly since: number; readonly deadline: number; readonly then: AfterStop; readonly forced: boolean }
  /** Its run exited on its own and its restart policy starts a new one at `until`. */
  | { readonly kind: 'backoff'; readonly until: number; readonly attempt: number }
  /** Down because tf was asked to stop it (or everything), or not started yet. */
  | { readonly kind: 'stopped' }
  /** Its run exited on its own and stays down: can-die, on-failure with code 0, or the exit that stopped everything. */
  | { readonly kind: 'exited'; readonly exit: ExitFacts }
  /** It cannot be kept up: it could not be spawned, or it exited quickly too many times in a row. */
  | { readonly kind: 'failed'; readonly reason: string }
  /** Scaled away and out of the formation: whatever its runs still report is ignored. */
  | { readonly kind: 'removed' };

export type SlotStateName = SlotState['kind'];

/** What happens to a slot; `at` is the clock's time when it happened. */
export type SlotEvent =
  /** Start a run now: the first start, or a restart of a slot that is down. */
  | { readonly kind: 'start'; readonly at: number }
  | { readonly kind: 'spawned'; readonly pid: number; readonly at: number }
  | { readonly kind: 'spawn-failed'; readonly error: string; readonly code?: string; readonly at: number }
  /** The run's probe passed; `announce` is false for probe `none`, whose readiness is not news. */
  | { readonly kind: 'ready'; readonly at: number; readonly announce: boolean }
  /** The run ended and its output is through. */
  | { readonly kind: 'exit'; readonly pid: number; readonly exit: ExitFacts; readonly at: number }
  /** Stop the run gracefully (its type's stop signal), SIGKILL at `deadline`, then `then`. */
  | { readonly kind: 'stop'; readonly then: AfterStop; readonly at: number; readonly deadline: number }
  /** A scale-up that wants back a slot still being scaled away. */
  | { readonly kind: 'revive'; readonly at: number }
  /** The slot's one timer fired: the stop deadline, or the end of the back-off. */
  | { readonly kind: 'timer'; readonly at: number }
  /** A second signal to tf: SIGKILL now instead of waiting for the deadline. */
  | { readonly kind: 'hurry'; readonly at: number };

/** What the supervisor does for a transition, in order. */
export type Effect =
  | { readonly kind: 'spawn' }
  /** To the run's process group; the supervisor drops it once the run has ended (pgid reuse). */
  | { readonly kind: 'signal'; readonly pid: number; readonly signal: NodeJS.Signals }
  /** SIGKILL to the run's group and its whole tree. */
  | { readonly kind: 'kill'; readonly pid: number }
  /** A slot has one timer at a time: setting it replaces the previous one. */
  | { readonly kind: 'set-timer'; readonly ms: number }
  | { readonly kind: 'cancel-timer' }
  /** Stop probing the run's readiness. */
  | { readonly kind: 'cancel-probe' }
  | { readonly kind: 'emit'; readonly event: SupervisorEvent }
  /** Stop everything (foreman's policy): tf exits with the reason's code. */
  | { readonly kind: 'stop-all'; readonly reason: StopReason }
  /** Drop the slot from the formation. */
  | { readonly kind: 'remove' };

export interface SlotContext {
  readonly instance: Instance;
  readonly backoff: BackoffRules;
  /** tf is starting the formation: a spawn that fails now stops everything, whatever the policy. */
  readonly startingUp: boolean;
}

export interface Transition {
  readonly state: SlotState;
  readonly effects: readonly Effect[];
}

/** What a slot does when its run exits without tf asking it to. */
type ExitPolicy = 'stop-all' | 'restart' | 'stay';

function exitPolicy(policy: TypePolicy, exit: Pick<ExitFacts, 'code'>): ExitPolicy {
  if (policy.restart === 'always') return 'restart';
  if (policy.restart === 'on-failure') return exit.code === 0 ? 'stay' : 'restart';
  return policy.canDie ? 'stay' : 'stop-all';
}

/** tf's exit code when this exit stops everything: its code, or 128+n for signal n. */
const exitCodeOf = (exit: Pick<ExitFacts, 'code' | 'signal'>): number => exit.code ?? (exit.signal === null ? 128 : exitCodeForSignal(exit.signal));

/** A slot is down: no run, nothing pending. */
export const isDown = (state: SlotState): boolean => state.kind === 'stopped' || state.kind === 'exited' || state.kind === 'failed';

const same = (state: SlotState): Transition => ({ state, effects: [] });

const REMOVED: SlotState = { kind: 'removed' };

/** A later request wins, except that a slot being scaled away stays on its way out. */
const mergeThen = (current: AfterStop, asked: AfterStop): AfterStop => (current === 'remove' ? 'remove' : asked);

/** The one place where slots change state. Pure: time comes in with the event. */
export function transition(state: SlotState, event: SlotEvent, ctx: SlotContext): Transition {
  const { instance } = ctx;
  if (state.kind === 'removed') return same(state);
  switch (event.kind) {
    case 'start':
      if (isDown(state)) return { state: { kind: 'starting', streak: 0 }, effects: [{ kind: 'spawn' }] };
      // Asked for during back-off: start now, as a fresh streak.
      if (state.kind === 'backoff') return { state: { kind: 'starting', streak: 0 }, effects: [{ kind: 'cancel-timer' }, { kind: 'spawn' }] };
      return same(state);

    case 'spawned':
      if (state.kind !== 'starting') return same(state);
      return {
        state: { kind: 'running', run: { pid: event.pid, startedAt: event.at }, streak: state.streak },
        effects: [{ kind: 'emit', event: { kind: 'spawned', instance, pid: event.pid } }],
      };

    case 'spawn-failed': {
      const reported: Effect = {
        kind: 'emit',
        event: { kind: 'spawn-failed', instance, error: event.error, ...(event.code === undefined ? {} : { code: event.code }) },
      };
      // Stopped while its spawn was still failing: it was asked to be down anyway.
      if (state.kind !== 'starting') return { state, effects: [reported] };
      // Retrying a spawn that failed (no shell, no cwd) would fail the same way.
      const effects: Effect[] = [reported];
      if (ctx.startingUp || exitPolicy(instance.policy, { code: 1 }) === 'stop-all')
        effects.push({ kind: 'stop-all', reason: { kind: 'spawn-failed', instance } });
      return { state: { kind: 'failed', reason: `could not start: ${event.error}` }, effects };
    }

    case 'ready':
      if (state.kind !== 'running') return same(state);
      return {
        state: { kind: 'ready', run: state.run, streak: state.streak, readyAfterMs: event.at - state.run.startedAt },
        effects: event.announce ? [{ kind: 'emit', event: { kind: 'ready', instance, pid: state.run.pid, afterMs: event.at - state.run.startedAt } }] : [],
      };

    case 'exit': {
      const exited: Effect = { kind: 'emit', event: { kind: 'exited', instance, pid: event.pid, exit: event.exit } };
      if (state.kind === 'stopping') {
        const effects: Effect[] = [{ kind: 'cancel-timer' }, exited];
        if (state.then === 'restart') return { state: { kind: 'starting', streak: 0 }, effects: [...effects, { kind: 'spawn' }] };
        if (state.then === 'remove') return { state: REMOVED, effects: [...effects, { kind: 'remove' }] };
        return { state: { kind: 'stopped' }, effects };
      }
      if (state.kind !== 'running' && state.kind !== 'ready') return same(state);
      const effects: Effect[] = state.kind === 'running' ? [{ kind: 'cancel-probe' }, exited] : [exited];
      switch (exitPolicy(instance.policy, event.exit)) {
        case 'stay':
          return { state: { kind: 'exited', exit: event.exit }, effects };
        case 'stop-all':
          return {
            state: { kind: 'exited', exit: event.exit },
            effects: [...effects, { kind: 'stop-all', reason: { kind: 'exited', instance, exitCode: exitCodeOf(event.exit) } }],
          };
        case 'restart': {
          const streak = nextStreak(ctx.backoff, state.streak, event.at - state.run.startedAt);
          if (streak >= ctx.backoff.maxQuickExits) {
            const reason = `${streak} quick exits in a row`;
            return {
              state: { kind: 'failed', reason },
              effects: [...effects, { kind: 'emit', event: { kind: 'failed', instance, reason, quickExits: streak } }],
            };
          }
          const delayMs = backoffDelay(ctx.backoff, streak);
          return {
            state: { kind: 'backoff', until: event.at + delayMs, attempt: streak },
            effects: [...effects, { kind: 'set-timer', ms: delayMs }, { kind: 'emit', event: { kind: 'backoff', instance, attempt: streak, delayMs } }],
          };
        }
      }
      return same(state);
    }

    case 'stop':
      switch (state.kind) {
        case 'running':
        case 'ready':
          return {
            state: { kind: 'stopping', run: state.run, since: event.at, deadline: event.deadline, then: event.then, forced: false },
            effects: [
              ...(state.kind === 'running' ? [{ kind: 'cancel-probe' } as const] : []),
              { kind: 'signal', pid: state.run.pid, signal: instance.policy.stopSignal },
              { kind: 'set-timer', ms: Math.max(0, event.deadline - event.at) },
            ],
          };
        case 'stopping': {
          const then = mergeThen(state.then, event.then);
          // A second stop never extends the grace period; an earlier deadline (tf stopping with a shorter wait) wins.
          if (state.forced || event.deadline >= state.deadline) return same({ ...state, then });
          return { state: { ...state, then, deadline: event.deadline }, effects: [{ kind: 'set-timer', ms: Math.max(0, event.deadline - event.at) }] };
        }
        case 'starting':
          // Its spawn is still failing (a started run is `running` at once): only the outcome matters.
          if (event.then === 'restart') return same(state);
          return event.then === 'remove' ? { state: REMOVED, effects: [{ kind: 'remove' }] } : { state: { kind: 'stopped' }, effects: [] };
        case 'backoff':
          if (event.then === 'restart') return { state: { kind: 'starting', streak: 0 }, effects: [{ kind: 'cancel-timer' }, { kind: 'spawn' }] };
          return event.then === 'remove'
            ? { state: REMOVED, effects: [{ kind: 'cancel-timer' }, { kind: 'remove' }] }
            : { state: { kind: 'stopped' }, effects: [{ kind: 'cancel-timer' }] };
        case 'stopped':
        case 'exited':
        case 'failed':
          if (event.then === 'restart') return transition(state, { kind: 'start', at: event.at }, ctx);
          return event.then === 'remove' ? { state: REMOVED, effects: [{ kind: 'remove' }] } : same(state);
      }
      return same(state);

    case 'revive':
      if (state.kind === 'stopping' && state.then === 'remove') return same({ ...state, then: 'restart' });
      return same(state);

    case 'timer':
      if (state.kind === 'backoff') return { state: { kind: 'starting', streak: state.attempt }, effects: [{ kind: 'spawn' }] };
      if (state.kind === 'stopping' && !state.forced) return forceKill(state, event.at, ctx, 'grace-over');
      return same(state);

    case 'hurry':
      if (state.kind === 'stopping' && !state.forced) {
        const killed = forceKill(state, event.at, ctx, 'signal-while-stopping');
        return { state: killed.state, effects: [{ kind: 'cancel-timer' }, ...killed.effects] };
      }
      return same(state);
  }
}

function forceKill(
  state: Extract<SlotState, { kind: 'stopping' }>,
  at: number,
  { instance }: SlotContext,
  why: 'grace-over' | 'signal-while-stopping',
): Transition {
  return {
    state: { ...state, forced: true },
    effects: [
      { kind: 'emit', event: { kind: 'killing', instance, pid: state.run.pid, graceMs: at - state.since, why } },
      { kind: 'kill', pid: state.run.pid },
    ],
  };
}
