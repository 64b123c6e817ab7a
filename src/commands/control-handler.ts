import { RELEASE_TYPE, type Config, type Instance, type Warning } from '../domain.js';
import { TfError } from '../errors.js';
import type { ErrorCode, FinalBody, PsRow, Request, ScaleChange } from '../control/protocol.js';
import type { ControlHandler, ReplyChannel } from '../control/server.js';
import { buildPlan, type PlanOptions } from '../plan/plan.js';
import type { Supervisor } from '../supervisor/supervisor.js';
import { followLogs, sendHistory, type Follower } from './log-stream.js';
import type { LogBook } from './log-book.js';

export interface ControlDeps {
  readonly supervisor: Supervisor;
  readonly logs: LogBook;
  /** The config `start` runs; a restart replaces it with the one it re-read. */
  readonly config: Config;
  /** Reads the config again with start's own options (env files, Procfile, tf.yaml); throws a TfError when it no longer parses. */
  readonly reload: () => Config;
  /** Shows a warning of the re-read config where start shows its own (the output stream). */
  readonly warn: (warning: Warning) => void;
  readonly planOptions: PlanOptions;
}

const fail = (code: ErrorCode, message: string): FinalBody => ({ ok: false, error: { code, message } });
const releaseIsNoType = (types: readonly string[]): string =>
  `${RELEASE_TYPE} is the release phase, not a process type: tf release runs it (types: ${types.join(', ')})`;
const done = (line: string): { readonly done: readonly string[] } => ({ done: [line] });
const numberOf = (name: string): number => Number(name.slice(name.lastIndexOf('.') + 1));

/**
 * What `tf start` answers on its control socket: each request becomes a call on the
 * Supervisor (which never learns about sockets), and every reply says what was done.
 * Names are checked before anything is done, so a typo acts on nothing.
 */
export class StartControl implements ControlHandler {
  private config: Config;
  /** Instances per type as scaled; starts as the plan's. */
  private readonly formation = new Map<string, number>();
  private readonly followers = new Set<Follower>();
  /** tf is stopping everything: requests that would change the formation are refused. */
  private ending = false;

  constructor(private readonly deps: ControlDeps) {
    this.config = deps.config;
    for (const type of deps.config.procfile.types) this.formation.set(type.name, 0);
    for (const row of deps.supervisor.snapshot()) this.formation.set(row.type, Math.max(this.formation.get(row.type) ?? 0, numberOf(row.name)));
  }

  handle(request: Request, reply: ReplyChannel): void {
    try {
      this.dispatch(request, reply);
    } catch (error) {
      if (!(error instanceof TfError)) throw error;
      reply.end(fail('failed', error.describe()));
    }
  }

  /** Called on the supervisor's `stopping` event: from then on only ps, logs and a whole stop are answered. */
  stopping(): void {
    this.ending = true;
  }

  /** tf is ending: followers get their last lines and a final reply, before the server drops them. */
  close(): void {
    for (const follower of [...this.followers]) follower.end('shutdown');
  }

  private dispatch(request: Request, reply: ReplyChannel): void {
    const { supervisor } = this.deps;
    const harmless =
      request.cmd === 'ps' ||
      request.cmd === 'logs' ||
      request.cmd === 'hello' ||
      request.cmd === 'shutdown' ||
      (request.cmd === 'stop' && request.names.length === 0);
    if (this.ending && !harmless) {
      return reply.end(fail('failed', `tf (pid ${process.pid}) is stopping all processes; nothing was done`));
    }
    switch (request.cmd) {
      case 'hello':
        // The server answers hello itself; a handler that sees one answers the same.
        return reply.end({ ok: true, pid: process.pid, root: this.config.root, procfile: this.config.procfile.path, startedAt: Date.now() });
      case 'ps':
        return reply.end({ ok: true, instances: this.inOrder(supervisor.snapshot()).map(toRow) });
      case 'restart':
        return reply.end(this.restart(request.names));
      case 'stop':
        if (request.names.length === 0) return this.shutdown(reply);
        return reply.end(this.stop(request.names));
      case 'shutdown':
        return this.shutdown(reply);
      case 'signal':
        return reply.end(this.signal(request.signal, request.names));
      case 'scale':
        return reply.end(this.scale(request.scale));
      case 'logs':
        return this.logs(request, reply);
    }
  }

  /** The error reply for names that match no instance or type (of the Procfile, even at 0), listing the ones that do. */
  private unknown(names: readonly string[]): FinalBody | undefined {
    const rows = this.inOrder(this.deps.supervisor.snapshot());
    const types = [...new Set([...this.config.procfile.types.map((t) => t.name).filter((name) => name !== RELEASE_TYPE), ...rows.map((r) => r.type)])];
    if (names.includes(RELEASE_TYPE)) return fail('unknown-name', releaseIsNoType(types));
    const known = new Set([...types, ...rows.map((r) => r.name)]);
    const missing = names.filter((n) => !known.has(n));
    if (missing.length === 0) return undefined;
    const instances = rows.length === 0 ? 'none' : rows.map((r) => r.name).join(', ');
    return fail(
      'unknown-name',
      `no instance or type named ${missing.map((n) => JSON.stringify(n)).join(', ')} (types: ${types.join(', ')}; instances: ${instances})`,
    );
  }

  /** The selected instance names, in formation order (all for none). */
  private selected(names: readonly string[]): string[] {
    const rows = this.deps.supervisor.snapshot();
    return rows.filter((r) => names.length === 0 || names.includes(r.name) || names.includes(r.type)).map((r) => r.name);
  }

  /**
   * Re-reads the env files, Procfile and tf.yaml first: if they no longer parse, nothing is
   * stopped and the error is the reply. Each instance then runs again with the new plan's
   * instance of the same name (same port formula).
   */
  private restart(names: readonly string[]): FinalBody {
    const unknown = this.unknown(names);
    if (unknown !== undefined) return unknown;
    const targets = this.selected(names);
    if (targets.length === 0) return { ok: true, ...done(`nothing to restart: no instances of ${names.join(', ') || 'any type'} (tf scale starts some)`) };
    const config = this.deps.reload();
    const fresh = this.instances(config, this.formationCovering());
    const gone = targets.filter((name) => !fresh.has(name));
    if (gone.length > 0) {
      const types = [...new Set(gone.map((n) => n.slice(0, n.lastIndexOf('.'))))];
      return fail('failed', `${config.procfile.path} no longer has ${types.join(', ')}; nothing was restarted`);
    }
    this.config = config;
    const result = this.deps.supervisor.restart(targets, (current) => fresh.get(current.name) ?? current);
    // What start said of the files it read, it says again of the files re-read: to the one who asked, and in the stream.
    for (const warning of config.warnings) this.deps.warn(warning);
    return { ok: true, ...done(`restarting ${result.names.join(', ')} (env files and Procfile re-read)`), warnings: config.warnings };
  }

  private stop(names: readonly string[]): FinalBody {
    const unknown = this.unknown(names);
    if (unknown !== undefined) return unknown;
    const result = this.deps.supervisor.stopSlots(names);
    const selected = this.selected(names);
    if (result.names.length === 0)
      return {
        ok: true,
        ...done(selected.length === 0 ? `no instances of ${names.join(', ')}: nothing to stop` : `${selected.join(', ')}: already down, nothing to stop`),
      };
    return { ok: true, ...done(`stopping ${result.names.join(', ')}`) };
  }

  /** `tf stop` without names: the whole supervisor, gracefully, as SIGTERM does, but tf exits 0. */
  private shutdown(reply: ReplyChannel): void {
    reply.end({ ok: true, ...done(`stopping all processes; tf (pid ${process.pid}) exits once they are down`) });
    this.deps.supervisor.stop({ kind: 'requested' });
  }

  private signal(signal: NodeJS.Signals, names: readonly string[]): FinalBody {
    const unknown = this.unknown(names);
    if (unknown !== undefined) return unknown;
    const result = this.deps.supervisor.signalSlots(signal, names);
    // As kill(1) with no process to signal: a failure, so a script sees that nothing was reached.
    if (result.names.length === 0) return fail('failed', `nothing running to send ${signal} to`);
    return { ok: true, ...done(`sent ${signal} to ${result.names.join(', ')}`) };
  }

  /**
   * New counts, checked as a whole by the plan (foreman's ports, the port-collision check)
   * before any instance starts or stops; scaling down stops the highest-numbered gracefully.
   */
  private scale(changes: readonly ScaleChange[]): FinalBody {
    const types = this.config.procfile.types.map((t) => t.name).filter((name) => name !== RELEASE_TYPE);
    if (changes.some((c) => c.type === RELEASE_TYPE)) return fail('unknown-name', releaseIsNoType(types));
    const bad = changes.filter((c) => !types.includes(c.type)).map((c) => JSON.stringify(c.type));
    if (bad.length > 0) return fail('unknown-name', `no process type ${bad.join(', ')} in ${this.config.procfile.path} (types: ${types.join(', ')})`);
    const wanted = new Map(this.formation);
    for (const change of changes) {
      const current = wanted.get(change.type) ?? 0;
      wanted.set(change.type, typeof change.count === 'number' ? change.count : Math.max(0, current + change.count.delta));
    }
    let fresh: Map<string, Instance>;
    try {
      fresh = this.instances(this.config, wanted);
    } catch (error) {
      // The plan's hint speaks to a command line; a running tf's port base and step are fixed until it starts again.
      if (!(error instanceof TfError) || error.kind !== 'formation') throw error;
      return fail('failed', `${error.message}; nothing was scaled (scale less, or start tf again with another -p or --port-step)`);
    }
    const lines: string[] = [];
    for (const [type, count] of wanted) {
      const from = this.formation.get(type) ?? 0;
      if (count === from) {
        if (changes.some((c) => c.type === type)) lines.push(`${type} stays at ${count}`);
        continue;
      }
      const result = this.deps.supervisor.scale(type, count, (index) => fresh.get(`${type}.${index}`) as Instance);
      this.formation.set(type, count);
      lines.push(`${type} ${from} -> ${count} (${count > from ? 'starting' : 'stopping'} ${result.names.join(', ')})`);
    }
    return { ok: true, done: [lines.join('; ')] };
  }

  private logs(request: Extract<Request, { cmd: 'logs' }>, reply: ReplyChannel): void {
    const unknown = this.unknown(request.names);
    if (unknown !== undefined) return reply.end(unknown);
    const { logs } = this.deps;
    sendHistory(reply, logs.last(this.selected(request.names), request.lines));
    if (!request.follow) return reply.end({ ok: true, reason: 'done' });
    const follower = followLogs(logs, reply, (name) => this.matches(request.names, name), this.selected(request.names));
    this.followers.add(follower);
    reply.onClose(() => this.followers.delete(follower));
  }

  /** Procfile order, then instance number: a type scaled from 0 back up lists where it did at start. */
  private inOrder<T extends { readonly type: string; readonly name: string }>(rows: readonly T[]): T[] {
    const position = new Map(this.config.procfile.types.map((t, i) => [t.name, i]));
    const key = (row: T): number => position.get(row.type) ?? position.size;
    return [...rows].sort((a, b) => key(a) - key(b) || numberOf(a.name) - numberOf(b.name));
  }

  /** Whether instance `name` (perhaps not started yet: a scale-up) is among `names`. */
  private matches(names: readonly string[], name: string): boolean {
    return names.length === 0 || names.includes(name) || names.includes(name.slice(0, name.lastIndexOf('.')));
  }

  /** Every type at least as wide as its highest-numbered instance, so each running name is in the plan. */
  private formationCovering(): Map<string, number> {
    const formation = new Map(this.formation);
    for (const row of this.deps.supervisor.snapshot()) formation.set(row.type, Math.max(formation.get(row.type) ?? 0, numberOf(row.name)));
    return formation;
  }

  /** The plan's instances for `formation` on `config`, by name; throws the plan's TfError (ports). */
  private instances(config: Config, formation: ReadonlyMap<string, number>): Map<string, Instance> {
    const plan = buildPlan({ ...config, formation }, this.deps.planOptions);
    return new Map(plan.instances.map((i) => [i.name, i]));
  }
}

function toRow(view: ReturnType<Supervisor['snapshot']>[number]): PsRow {
  return {
    name: view.name,
    type: view.type,
    state: view.state,
    pid: view.pid ?? null,
    port: view.port,
    startedAt: view.startedAt ?? null,
    restarts: view.restarts,
    lastExit: view.lastExit === undefined ? null : { code: view.lastExit.code, signal: view.lastExit.signal },
  };
}
