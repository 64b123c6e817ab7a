import { describeReadySpec } from '../config/policies.js';
import type { Instance } from '../domain.js';
import type { ExitFacts, StopReason, SupervisorEvent } from '../supervisor/events.js';
import type { SlotView } from '../supervisor/supervisor.js';
import { RecentLines } from './recent-lines.js';

/** Lines of an instance's output shown beside the reason it failed. */
export const RECENT_LINES = 10;

/** Something that ends `tf run --with` with exit 1. `why` follows the instance's name. */
export type Trouble =
  /** It exited on its own (even if its policy restarts it), could not start, or was given up after a crash loop. */
  | { readonly kind: 'down'; readonly instance: Instance; readonly why: string }
  /** The wait is over and its probe has not passed. */
  | { readonly kind: 'not-ready'; readonly instance: Instance; readonly why: string }
  /** tf's own stdout went away: nothing more can be shown. */
  | { readonly kind: 'output-closed' };

export function exitWhy(exit: ExitFacts | undefined): string {
  if (exit === undefined) return 'exited';
  if (exit.signal !== null) return `was killed by ${exit.signal}${exit.signalDescription ? ` (${exit.signalDescription})` : ''}`;
  return `exited with code ${exit.code}`;
}

/** `port 5000`, `http:/health on port 5000`, `log:READY`: what the probe waits for, as the user writes it. */
export function probeWhat(instance: Instance): string {
  const { ready } = instance.policy;
  if (ready.kind === 'port') return `port ${instance.port}`;
  if (ready.kind === 'http') return `${describeReadySpec(ready)} on port ${instance.port}`;
  return describeReadySpec(ready);
}

/** Why the first instance that is not ready yet is not, once the wait is over. */
export function notReady(views: readonly SlotView[], instances: readonly Instance[], waitMs: number): Trouble | undefined {
  for (const view of views) {
    if (view.state === 'ready' || view.state === 'exited') continue;
    const instance = instances.find((i) => i.name === view.name);
    if (instance === undefined) continue;
    const state = view.state === 'running' ? '' : `; state: ${view.state}`;
    return { kind: 'not-ready', instance, why: `not ready after ${waitMs / 1000}s (probe: ${probeWhat(instance)}${state})` };
  }
  return undefined;
}

/**
 * Reads the supervisor's events for what `run --with` must know: each instance's recent
 * output and last exit, and whether the formation is in trouble: an instance that exits on its
 * own (whatever its restart policy: a service that went down while the command ran against it
 * fails the run even if tf would bring it back), a stop of everything that tf did not ask for
 * (an instance could not start), or an instance given up after a crash loop. Only a `can-die`
 * instance may exit: it says so itself (a setup step that ends).
 */
export class ServiceTrouble {
  private readonly recent = new Map<string, RecentLines>();
  private readonly exits = new Map<string, ExitFacts>();
  private readonly spawnErrors = new Map<string, string>();
  /** Instances whose current run is ready (probe `none`: once spawned). */
  private readonly ready = new Set<string>();

  /** `own`: the reason tf passes when it stops the formation itself. */
  constructor(private readonly own: StopReason) {}

  handle(event: SupervisorEvent): Trouble | undefined {
    switch (event.kind) {
      case 'spawned':
        if (event.instance.policy.ready.kind === 'none') this.ready.add(event.instance.name);
        else this.ready.delete(event.instance.name);
        return undefined;
      case 'ready':
        this.ready.add(event.instance.name);
        return undefined;
      case 'output':
        this.linesOf(event.instance.name).push(event.stream, event.chunk);
        return undefined;
      case 'exited':
        this.exits.set(event.instance.name, event.exit);
        if (event.exit.stoppedByTf || event.instance.policy.canDie) return undefined;
        return { kind: 'down', instance: event.instance, why: exitWhy(event.exit) };
      case 'spawn-failed':
        this.spawnErrors.set(event.instance.name, event.error);
        return undefined;
      case 'failed':
        return { kind: 'down', instance: event.instance, why: `failed: ${event.reason}` };
      case 'stopping':
        return event.reason === this.own ? undefined : this.stopTrouble(event.reason);
      default:
        return undefined;
    }
  }

  /** Whether its last run got ready (it may have exited since). */
  wasReady(name: string): boolean {
    return this.ready.has(name);
  }

  lines(name: string): string[] {
    return this.recent.get(name)?.lines() ?? [];
  }

  private stopTrouble(reason: StopReason): Trouble | undefined {
    switch (reason.kind) {
      case 'exited':
        return { kind: 'down', instance: reason.instance, why: exitWhy(this.exits.get(reason.instance.name)) };
      case 'spawn-failed':
        return { kind: 'down', instance: reason.instance, why: `failed to start: ${this.spawnErrors.get(reason.instance.name) ?? 'unknown error'}` };
      case 'output-closed':
        return { kind: 'output-closed' };
      // A signal to tf is the user's stop, not a failure; `finished` without failures is setup steps done; `failed` was reported as it happened.
      case 'signal':
      case 'requested':
      case 'finished':
        return undefined;
    }
  }

  private linesOf(name: string): RecentLines {
    let lines = this.recent.get(name);
    if (lines === undefined) {
      lines = new RecentLines(RECENT_LINES);
      this.recent.set(name, lines);
    }
    return lines;
  }
}
