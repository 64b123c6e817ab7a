import type { Instance, OutputStream, Warning } from '../domain.js';

/** Why tf is stopping everything; decides tf's exit code. */
export type StopReason =
  | { readonly kind: 'signal'; readonly signal: NodeJS.Signals }
  | { readonly kind: 'exited'; readonly instance: Instance; readonly exitCode: number }
  | { readonly kind: 'spawn-failed'; readonly instance: Instance }
  | { readonly kind: 'output-closed' };

export interface ExitFacts {
  /** The exit code, or null when a signal ended the process. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** e.g. "Termination" for SIGTERM. */
  readonly signalDescription: string | undefined;
  /** tf had to SIGKILL it after the grace period. */
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
  | { readonly kind: 'killing'; readonly instance: Instance; readonly pid: number; readonly graceMs: number }
  | { readonly kind: 'forwarded'; readonly signal: NodeJS.Signals; readonly count: number }
  | { readonly kind: 'warning'; readonly warning: Warning };

/** tf's exit code for a stop reason: the policy table in the README. */
export function exitCodeFor(reason: StopReason, signalNumber: (s: NodeJS.Signals) => number): number {
  switch (reason.kind) {
    case 'signal':
      return 128 + signalNumber(reason.signal);
    case 'exited':
      return reason.exitCode;
    case 'spawn-failed':
      return 1;
    case 'output-closed':
      return 128 + signalNumber('SIGPIPE');
  }
}
