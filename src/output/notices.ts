import type { Instance } from '../domain.js';
import { describePlace } from '../errors.js';
import type { ExitFacts, StopReason, SupervisorEvent } from '../supervisor/events.js';

/** tf's own line about an event, shared by the pretty and JSON formats. */
export interface Notice {
  readonly text: string;
  readonly level: 'info' | 'warn' | 'error';
  readonly instance?: Instance;
  /** Facts for JSON consumers: pid, port, exit code, signal... */
  readonly fields: Readonly<Record<string, unknown>>;
}

type NoticeKind = Exclude<SupervisorEvent['kind'], 'output' | 'output-end'>;
type EventOf<K extends NoticeKind> = Extract<SupervisorEvent, { kind: K }>;

const seconds = (ms: number): string => `${Math.round(ms / 100) / 10}s`;

function exitText(exit: ExitFacts): string {
  // The `killing` notice before it says why.
  if (exit.forced) return 'was killed with SIGKILL';
  if (exit.signal !== null) return `exited on ${exit.signal}${exit.signalDescription ? ` (${exit.signalDescription})` : ''}`;
  return `exited with code ${exit.code}`;
}

function reasonText(reason: StopReason): string {
  switch (reason.kind) {
    case 'signal':
      return `received ${reason.signal}`;
    case 'exited':
      return `${reason.instance.name} exited`;
    case 'spawn-failed':
      return `${reason.instance.name} failed to start`;
    case 'output-closed':
      return 'output was closed';
    case 'requested':
      return 'asked through tf stop';
    case 'finished':
      return reason.failed > 0 ? `nothing left running; ${reason.failed} failed` : 'nothing left running';
  }
}

/** One formatter per event kind: a new kind without one does not compile. */
const NOTICES: { readonly [K in NoticeKind]: (event: EventOf<K>) => Notice } = {
  spawned: ({ instance, pid }) => ({
    // The release phase has no port (0).
    text: `${instance.name} started (pid ${pid}${instance.port === 0 ? '' : `, port ${instance.port}`})`,
    level: 'info',
    instance,
    fields: { event: 'spawned', pid, port: instance.port },
  }),
  exited: ({ instance, pid, exit }) => ({
    text: `${instance.name} ${exitText(exit)}`,
    level: exit.code === 0 || exit.stoppedByTf ? 'info' : 'warn',
    instance,
    fields: { event: 'exited', pid, port: instance.port, exitCode: exit.code, signal: exit.signal, forced: exit.forced, durationMs: exit.durationMs },
  }),
  'spawn-failed': ({ instance, error }) => ({
    text: `${instance.name} failed to start: ${error}`,
    level: 'error',
    instance,
    fields: { event: 'spawn-failed', port: instance.port, error },
  }),
  stopping: ({ reason }) => ({
    // Once nothing runs there is nothing to stop: tf just ends.
    text: reason.kind === 'finished' ? `${reasonText(reason)}; tf exits` : `stopping all processes (${reasonText(reason)})`,
    level: 'info',
    fields: { event: 'stopping', reason: reason.kind, ...(reason.kind === 'signal' ? { signal: reason.signal } : {}) },
  }),
  killing: ({ instance, pid, graceMs, why }) => ({
    text:
      why === 'grace-over'
        ? `${instance.name} did not stop within ${seconds(graceMs)}; sending SIGKILL to its process tree`
        : `${instance.name}: tf got a signal while stopping; sending SIGKILL to its process tree without waiting`,
    level: 'warn',
    instance,
    fields: { event: 'killing', pid, signal: 'SIGKILL', why },
  }),
  forwarded: ({ signal, count }) => ({
    text: `forwarded ${signal} to ${count} process${count === 1 ? '' : 'es'}`,
    level: 'info',
    fields: { event: 'forwarded', signal },
  }),
  ready: ({ instance, pid, afterMs }) => ({
    text: `${instance.name} ready after ${seconds(afterMs)}`,
    level: 'info',
    instance,
    fields: { event: 'ready', pid, port: instance.port, afterMs },
  }),
  backoff: ({ instance, attempt, delayMs }) => ({
    text: `${instance.name} restarting in ${seconds(delayMs)} (attempt ${attempt})`,
    level: 'warn',
    instance,
    fields: { event: 'backoff', attempt, delayMs },
  }),
  failed: ({ instance, reason }) => ({
    text: `${instance.name} failed: ${reason}; it stays down (tf restart ${instance.name} tries again)`,
    level: 'error',
    instance,
    fields: { event: 'failed', reason },
  }),
  restarting: ({ instance }) => ({
    text: `${instance.name} restarting (asked through tf restart)`,
    level: 'info',
    instance,
    fields: { event: 'restarting' },
  }),
  'slot-stopping': ({ instance }) => ({
    text: `${instance.name} stopping (asked through tf stop)`,
    level: 'info',
    instance,
    fields: { event: 'slot-stopping' },
  }),
  scaled: ({ type, from, to }) => ({
    text: `scaled ${type} from ${from} to ${to}`,
    level: 'info',
    fields: { event: 'scaled', type, from, to },
  }),
  removed: ({ instance }) => ({
    text: `${instance.name} removed from the formation`,
    level: 'info',
    instance,
    fields: { event: 'removed' },
  }),
  signalled: ({ signal, names }) => ({
    text: `sent ${signal} to ${names.join(', ')}`,
    level: 'info',
    fields: { event: 'signalled', signal, names },
  }),
  notice: ({ level, text, topic }) => ({
    text,
    level,
    fields: { event: topic },
  }),
  warning: ({ warning }) => ({
    text: `warning: ${describePlace(warning.file, warning.line, warning.message)}`,
    level: 'warn',
    fields: { event: 'warning', ...(warning.file === undefined ? {} : { file: warning.file }), ...(warning.line === undefined ? {} : { line: warning.line }) },
  }),
};

export function noticeFor(event: EventOf<NoticeKind>): Notice {
  return (NOTICES[event.kind] as (e: typeof event) => Notice)(event);
}
