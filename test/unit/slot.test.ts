import { describe, expect, it } from 'vitest';
import { defaultPolicy, type Instance, type TypePolicy } from '../../src/domain.js';
import { backoffDelay, defaultBackoff, nextStreak } from '../../src/supervisor/backoff.js';
import type { ExitFacts } from '../../src/supervisor/events.js';
import { transition, type Effect, type SlotEvent, type SlotState } from '../../src/supervisor/slot.js';

const policy = (p: Partial<TypePolicy> = {}): TypePolicy => ({ ...defaultPolicy('worker'), ...p });
const instance = (p: Partial<TypePolicy> = {}): Instance => ({
  name: 'worker.1',
  type: 'worker',
  number: 1,
  command: 'x',
  launch: { file: '/bin/sh', args: ['-c', 'x'] },
  env: {},
  port: 5100,
  cwd: '/',
  color: 0,
  policy: policy(p),
});
const exit = (code: number | null, signal: NodeJS.Signals | null = null, stoppedByTf = false): ExitFacts => ({
  code,
  signal,
  signalDescription: undefined,
  forced: false,
  stoppedByTf,
  durationMs: 0,
});

const run = { pid: 42, startedAt: 1000 };
const running: SlotState = { kind: 'running', run, streak: 0 };
const ready: SlotState = { kind: 'ready', run, streak: 2, readyAfterMs: 5 };
const stopping = (then: 'stay' | 'restart' | 'remove', forced = false): SlotState => ({ kind: 'stopping', run, since: 2000, deadline: 7000, then, forced });
const stop = (then: 'stay' | 'restart' | 'remove', at = 2000, deadline = at + 5000): SlotEvent => ({ kind: 'stop', then, at, deadline });
const exitAt = (at: number, facts = exit(3)): SlotEvent => ({ kind: 'exit', pid: 42, exit: facts, at });

/** Effects as short strings, so a row reads as a sentence. */
function brief(effects: readonly Effect[]): string[] {
  return effects.map((e) => {
    switch (e.kind) {
      case 'signal':
        return `signal ${e.signal}`;
      case 'set-timer':
        return `timer ${e.ms}`;
      case 'emit':
        return `emit ${e.event.kind}`;
      case 'stop-all':
        return `stop-all ${e.reason.kind}${e.reason.kind === 'exited' ? ` ${e.reason.exitCode}` : ''}`;
      default:
        return e.kind;
    }
  });
}

interface Row {
  readonly why: string;
  readonly policy?: Partial<TypePolicy>;
  /** tf is still starting the formation. */
  readonly startingUp?: boolean;
  readonly from: SlotState;
  readonly event: SlotEvent;
  readonly to: Partial<SlotState> & { kind: SlotState['kind'] };
  readonly effects: string[];
}

const rows: Row[] = [
  // Starting and running.
  {
    why: 'a slot that is down starts a run',
    from: { kind: 'stopped' },
    event: { kind: 'start', at: 0 },
    to: { kind: 'starting', streak: 0 },
    effects: ['spawn'],
  },
  {
    why: 'a failed slot starts again when asked (tf restart)',
    from: { kind: 'failed', reason: 'x' },
    event: { kind: 'start', at: 0 },
    to: { kind: 'starting' },
    effects: ['spawn'],
  },
  {
    why: 'a start during back-off starts at once, as a fresh streak',
    from: { kind: 'backoff', until: 9000, attempt: 3 },
    event: { kind: 'start', at: 0 },
    to: { kind: 'starting', streak: 0 },
    effects: ['cancel-timer', 'spawn'],
  },
  { why: 'a start of a running slot changes nothing', from: running, event: { kind: 'start', at: 0 }, to: running, effects: [] },
  {
    why: 'a spawned run is running, and reported',
    from: { kind: 'starting', streak: 1 },
    event: { kind: 'spawned', pid: 42, at: 1000 },
    to: { kind: 'running', run, streak: 1 },
    effects: ['emit spawned'],
  },
  {
    why: 'a probe passing makes it ready, with the time it took',
    from: running,
    event: { kind: 'ready', at: 2200, announce: true },
    to: { kind: 'ready', readyAfterMs: 1200 },
    effects: ['emit ready'],
  },
  {
    why: 'probe none: ready silently',
    from: running,
    event: { kind: 'ready', at: 1000, announce: false },
    to: { kind: 'ready', readyAfterMs: 0 },
    effects: [],
  },
  {
    why: 'a late probe for a stopping run is ignored',
    from: stopping('stay'),
    event: { kind: 'ready', at: 3000, announce: true },
    to: { kind: 'stopping' },
    effects: [],
  },

  // Spawn failures.
  {
    why: 'foreman: a spawn failure stops everything (exit 1)',
    from: { kind: 'starting', streak: 0 },
    event: { kind: 'spawn-failed', error: 'ENOENT', at: 0 },
    to: { kind: 'failed' },
    effects: ['emit spawn-failed', 'stop-all spawn-failed'],
  },
  {
    why: 'under a restart policy a spawn failure leaves only this slot failed (retrying fails the same way)',
    policy: { restart: 'always' },
    from: { kind: 'starting', streak: 0 },
    event: { kind: 'spawn-failed', error: 'ENOENT', at: 0 },
    to: { kind: 'failed' },
    effects: ['emit spawn-failed'],
  },
  {
    why: 'at start-up a spawn failure stops everything whatever the policy (can-die)',
    policy: { canDie: true },
    startingUp: true,
    from: { kind: 'starting', streak: 0 },
    event: { kind: 'spawn-failed', error: 'ENOENT', at: 0 },
    to: { kind: 'failed' },
    effects: ['emit spawn-failed', 'stop-all spawn-failed'],
  },
  {
    why: 'at start-up a spawn failure stops everything whatever the policy (always)',
    policy: { restart: 'always' },
    startingUp: true,
    from: { kind: 'starting', streak: 0 },
    event: { kind: 'spawn-failed', error: 'ENOENT', at: 0 },
    to: { kind: 'failed' },
    effects: ['emit spawn-failed', 'stop-all spawn-failed'],
  },
  {
    why: 'after start-up a restart whose spawn fails follows the policy (can-die: only this slot fails)',
    policy: { canDie: true },
    from: { kind: 'starting', streak: 2 },
    event: { kind: 'spawn-failed', error: 'ENOENT', at: 0 },
    to: { kind: 'failed' },
    effects: ['emit spawn-failed'],
  },
  { why: 'a removed slot ignores what its last run still reports', from: { kind: 'removed' }, event: exitAt(3000), to: { kind: 'removed' }, effects: [] },
  {
    why: 'a spawn failing after a stop was asked for stays stopped',
    from: { kind: 'stopped' },
    event: { kind: 'spawn-failed', error: 'ENOENT', at: 0 },
    to: { kind: 'stopped' },
    effects: ['emit spawn-failed'],
  },

  // Exits on its own, by policy.
  {
    why: 'foreman: an exit on its own stops everything with its code',
    from: running,
    event: exitAt(5000),
    to: { kind: 'exited' },
    effects: ['cancel-probe', 'emit exited', 'stop-all exited 3'],
  },
  {
    why: 'foreman: death by signal stops everything with 128+n',
    from: ready,
    event: exitAt(5000, exit(null, 'SIGSEGV')),
    to: { kind: 'exited' },
    effects: ['emit exited', 'stop-all exited 139'],
  },
  {
    why: 'can-die: any code, the rest keep running',
    policy: { canDie: true },
    from: ready,
    event: exitAt(5000),
    to: { kind: 'exited' },
    effects: ['emit exited'],
  },
  {
    why: 'on-failure with 0 stays down without stopping the others',
    policy: { restart: 'on-failure' },
    from: ready,
    event: exitAt(5000, exit(0)),
    to: { kind: 'exited' },
    effects: ['emit exited'],
  },
  {
    why: 'on-failure with a failure backs off, 1 s for the first attempt',
    policy: { restart: 'on-failure' },
    from: running,
    event: exitAt(5000),
    to: { kind: 'backoff', until: 6000, attempt: 1 },
    effects: ['cancel-probe', 'emit exited', 'timer 1000', 'emit backoff'],
  },
  {
    why: 'always restarts after code 0 too',
    policy: { restart: 'always' },
    from: running,
    event: exitAt(5000, exit(0)),
    to: { kind: 'backoff', attempt: 1 },
    effects: ['cancel-probe', 'emit exited', 'timer 1000', 'emit backoff'],
  },
  {
    why: 'a quick exit after two quick ones waits 4 s (doubling)',
    policy: { restart: 'always' },
    from: ready,
    event: exitAt(1500),
    to: { kind: 'backoff', until: 5500, attempt: 3 },
    effects: ['emit exited', 'timer 4000', 'emit backoff'],
  },
  {
    why: 'a run that stayed up 10 s resets the streak',
    policy: { restart: 'always' },
    from: ready,
    event: exitAt(11_000),
    to: { kind: 'backoff', attempt: 1 },
    effects: ['emit exited', 'timer 1000', 'emit backoff'],
  },
  {
    why: 'the fifth quick exit in a row: failed, stays down',
    policy: { restart: 'always' },
    from: { kind: 'ready', run, streak: 4, readyAfterMs: 0 },
    event: exitAt(1500),
    to: { kind: 'failed', reason: '5 quick exits in a row' },
    effects: ['emit exited', 'emit failed'],
  },
  {
    why: 'the back-off ends: a new run, keeping the streak',
    from: { kind: 'backoff', until: 9000, attempt: 3 },
    event: { kind: 'timer', at: 9000 },
    to: { kind: 'starting', streak: 3 },
    effects: ['spawn'],
  },

  // Stops asked for.
  {
    why: "a stop sends the type's stop signal and arms the deadline",
    policy: { stopSignal: 'SIGQUIT' },
    from: ready,
    event: stop('stay'),
    to: { kind: 'stopping', then: 'stay', since: 2000, deadline: 7000, forced: false },
    effects: ['signal SIGQUIT', 'timer 5000'],
  },
  {
    why: 'a stop of a running (not yet ready) run cancels its probe too',
    from: running,
    event: stop('stay'),
    to: { kind: 'stopping' },
    effects: ['cancel-probe', 'signal SIGTERM', 'timer 5000'],
  },
  {
    why: 'the deadline SIGKILLs the tree',
    from: stopping('stay'),
    event: { kind: 'timer', at: 7000 },
    to: { kind: 'stopping', forced: true },
    effects: ['emit killing', 'kill'],
  },
  {
    why: 'a second signal kills at once',
    from: stopping('stay'),
    event: { kind: 'hurry', at: 3000 },
    to: { kind: 'stopping', forced: true },
    effects: ['cancel-timer', 'emit killing', 'kill'],
  },
  {
    why: 'a killed run is not killed twice',
    from: stopping('stay', true),
    event: { kind: 'hurry', at: 3000 },
    to: { kind: 'stopping', forced: true },
    effects: [],
  },
  {
    why: 'an exit asked for is never "on its own": stopped, nothing else stops',
    from: stopping('stay'),
    event: exitAt(3000, exit(null, 'SIGTERM', true)),
    to: { kind: 'stopped' },
    effects: ['cancel-timer', 'emit exited'],
  },
  {
    why: 'restart: once stopped, a new run in the same slot, fresh streak',
    from: stopping('restart'),
    event: exitAt(3000),
    to: { kind: 'starting', streak: 0 },
    effects: ['cancel-timer', 'emit exited', 'spawn'],
  },
  {
    why: 'scale-down: once stopped, the slot goes',
    from: stopping('remove'),
    event: exitAt(3000),
    to: { kind: 'removed' },
    effects: ['cancel-timer', 'emit exited', 'remove'],
  },
  {
    why: 'a restart during a stop: restart once stopped, the deadline unchanged',
    from: stopping('stay'),
    event: stop('restart', 2500),
    to: { kind: 'stopping', then: 'restart', deadline: 7000 },
    effects: [],
  },
  {
    why: 'a stop during a restart: stays down once stopped',
    from: stopping('restart'),
    event: stop('stay', 2500),
    to: { kind: 'stopping', then: 'stay' },
    effects: [],
  },
  {
    why: 'a scale-down during a restart: removed once stopped',
    from: stopping('restart'),
    event: stop('remove', 2500),
    to: { kind: 'stopping', then: 'remove' },
    effects: [],
  },
  {
    why: "a restart or tf's stop never keeps a scaled-away slot",
    from: stopping('remove'),
    event: stop('restart', 2500),
    to: { kind: 'stopping', then: 'remove' },
    effects: [],
  },
  {
    why: 'a later stop with an earlier deadline re-arms the timer',
    from: stopping('stay'),
    event: stop('stay', 3000, 4000),
    to: { kind: 'stopping', deadline: 4000 },
    effects: ['timer 1000'],
  },
  {
    why: 'a scale-up wants a slot being removed back',
    from: stopping('remove'),
    event: { kind: 'revive', at: 2500 },
    to: { kind: 'stopping', then: 'restart' },
    effects: [],
  },
  {
    why: 'a stop during back-off: stopped, no restart',
    from: { kind: 'backoff', until: 9000, attempt: 2 },
    event: stop('stay'),
    to: { kind: 'stopped' },
    effects: ['cancel-timer'],
  },
  {
    why: 'a restart during back-off: starts now',
    from: { kind: 'backoff', until: 9000, attempt: 2 },
    event: stop('restart'),
    to: { kind: 'starting', streak: 0 },
    effects: ['cancel-timer', 'spawn'],
  },
  {
    why: 'a scale-down during back-off: removed at once',
    from: { kind: 'backoff', until: 9000, attempt: 2 },
    event: stop('remove'),
    to: { kind: 'removed' },
    effects: ['cancel-timer', 'remove'],
  },
  {
    why: 'a restart of an exited slot starts it',
    from: { kind: 'exited', exit: exit(0) },
    event: stop('restart'),
    to: { kind: 'starting' },
    effects: ['spawn'],
  },
  { why: 'a stop of a slot that is down changes nothing', from: { kind: 'failed', reason: 'x' }, event: stop('stay'), to: { kind: 'failed' }, effects: [] },
  { why: 'a scale-down of a slot that is down removes it', from: { kind: 'stopped' }, event: stop('remove'), to: { kind: 'removed' }, effects: ['remove'] },
  { why: 'a stop while a spawn is still failing: stopped', from: { kind: 'starting', streak: 0 }, event: stop('stay'), to: { kind: 'stopped' }, effects: [] },
  {
    why: 'a stale timer after the run ended changes nothing',
    from: { kind: 'stopped' },
    event: { kind: 'timer', at: 9000 },
    to: { kind: 'stopped' },
    effects: [],
  },
];

describe('transition', () => {
  for (const row of rows) {
    it(row.why, () => {
      const result = transition(row.from, row.event, { instance: instance(row.policy), backoff: defaultBackoff, startingUp: row.startingUp === true });
      expect(result.state).toMatchObject(row.to);
      expect(brief(result.effects)).toEqual(row.effects);
    });
  }

  it('names the instance in what it emits', () => {
    const { effects } = transition(running, exitAt(5000), { instance: instance(), backoff: defaultBackoff, startingUp: false });
    expect(effects.find((e) => e.kind === 'emit')).toMatchObject({ event: { kind: 'exited', instance: { name: 'worker.1' }, pid: 42 } });
  });
});

describe('back-off rules', () => {
  it('doubles from 1 s to a 30 s cap', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(defaultBackoff, n))).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
  });

  it('counts quick exits in a row and starts over after a run that stayed up', () => {
    expect(nextStreak(defaultBackoff, 2, 9_999)).toBe(3);
    expect(nextStreak(defaultBackoff, 4, 10_000)).toBe(1);
  });
});
