import type { Instance, OutputStream, Warning } from '../domain.js';
import { exitCodeForSignal } from '../host/signals.js';

/** Why tf is stopping everything; decides tf's exit code. */
export type StopReason =
  | { readonly kind: 'signal'; readonly signal: NodeJS.Signals }
  /** An instance under the stop-all policy (foreman's default) exited on its own. */
  | { readonly kind: 'exited'; readonly instance: Instance; readonly exitCode: number }
  | { readonly kind: 'spawn-failed'; readonly instance: Instance }
  | { readonly kind: 'output-closed' }
  /** Asked for through control (`tf stop` without names): a clean end. */
  | { readonly kind: 'requested' }
  /**
   * Nothing is left running and nothing will start by itself: every instance exited on its
   * own where its policy let it (can-die, on-failure with 0) or failed. `failed` counts those.
   */
  | { readonly kind: 'finished'; readonly failed: number };

export interface ExitFacts {
  /** The exit code, or null when a signal ended the process. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** e.g. "Termination" for SIGTERM. */
  readonly signalDescription: string | undefined;
  /** tf SIGKILLed it: the grace period ran out, or a second stop signal asked not to wait. */
  readonly forced: boolean;
  /** tf asked it to stop (as opposed to it exiting on its own). */
  readonly stoppedByTf: boolean;
  readonly durationMs: number;
}

/** Everything the supervisor reports; output/ has one formatter per kind. */
export type SupervisorEvent =
  | { readonly kind: 'spawned'; readonly instance: Instance; readonly pid: number }
  /** `chunk` is lent: its buffer takes the next read, so a handler copies what it keeps. */
  | { readonly kind: 'output'; readonly instance: Instance; readonly stream: OutputStream; readonly chunk: Buffer }
  | { readonly kind: 'output-end'; readonly instance: Instance; readonly stream: OutputStream }
  | { readonly kind: 'exited'; readonly instance: Instance; readonly pid: number; readonly exit: ExitFacts }
  /** `code` is the errno name ('ENOENT', 'EMFILE') or Node's error code, when there is one. */
  | { readonly kind: 'spawn-failed'; readonly instance: Instance; readonly error: string; readonly code?: string }
  | { readonly kind: 'stopping'; readonly reason: StopReason }
  /** tf sends SIGKILL: the grace period ran out, or a second stop signal asked not to wait. */
  | {
      readonly kind: 'killing';
      readonly instance: Instance;
      readonly pid: number;
      readonly graceMs: number;
      readonly why: 'grace-over' | 'signal-while-stopping';
    }
  | { readonly kind: 'forwarded'; readonly signal: NodeJS.Signals; readonly count: number }
  | { readonly kind: 'warning'; readonly warning: Warning }
  /** A line of tf's own about something other than an instance (the backing services at boot). */
  | { readonly kind: 'notice'; readonly level: 'info' | 'warn'; readonly text: string; readonly topic: string }
  /** The run's readiness probe passed (not reported for probe `none`). */
  | { readonly kind: 'ready'; readonly instance: Instance; readonly pid: number; readonly afterMs: number }
  /** It exited on its own and its policy restarts it after `delayMs`; `attempt` counts quick exits in a row. */
  | { readonly kind: 'backoff'; readonly instance: Instance; readonly attempt: number; readonly delayMs: number }
  /** It cannot be kept up (crash loop); it stays down until restarted through control. */
  | { readonly kind: 'failed'; readonly instance: Instance; readonly reason: string; readonly quickExits: number }
  /** A restart asked for through control: a graceful stop, then a new run in the same slot. */
  | { readonly kind: 'restarting'; readonly instance: Instance }
  /** A stop of this one instance asked for through control; the rest keep running. */
  | { readonly kind: 'slot-stopping'; readonly instance: Instance }
  /** The formation of one type changed through control. */
  | { readonly kind: 'scaled'; readonly type: string; readonly from: number; readonly to: number }
  /** A scaled-away instance is stopped and gone from the formation. */
  | { readonly kind: 'removed'; readonly instance: Instance }
  /** A signal sent through control to these instances' process groups. */
  | { readonly kind: 'signalled'; readonly signal: NodeJS.Signals; readonly names: readonly string[] };

/** tf's exit code for a stop reason: the policy table in the README. */
export function exitCodeFor(reason: StopReason): number {
  switch (reason.kind) {
    case 'signal':
      return exitCodeForSignal(reason.signal);
    case 'exited':
      return reason.exitCode;
    case 'spawn-failed':
      return 1;
    case 'output-closed':
      return exitCodeForSignal('SIGPIPE');
    case 'requested':
      return 0;
    case 'finished':
      return reason.failed > 0 ? 1 : 0;
  }
}
