import type { Invocation } from '../cli/args.js';
import type { Command, PsRow } from '../control/protocol.js';
import { TfError } from '../errors.js';

/** How often a waiting client asks again: the running tf answers in far less. */
const POLL_MS = 100;

/** What a command waits for, read from `tf ps` rows: undefined when done, else what is still pending. */
type Pending = (rows: readonly PsRow[]) => string | undefined;

/** --wait-timeout (or TF_WAIT_TIMEOUT) in ms, or undefined: the command answers once tf has acted. */
export function waitTimeoutMs(invocation: Invocation): number | undefined {
  return invocation.options.waitTimeoutMs;
}

const DOWN = new Set(['stopped', 'exited', 'failed']);
const matches = (names: readonly string[], row: PsRow): boolean => names.length === 0 || names.includes(row.name) || names.includes(row.type);
const describe = (row: PsRow): string => `${row.name} is ${row.state}`;

/** A run that ended on its own while being waited for: waiting longer would not help. */
function crashed(row: PsRow): TfError | undefined {
  if (row.state !== 'exited' && row.state !== 'failed' && row.state !== 'backoff') return undefined;
  const exit = row.lastExit === null ? '' : row.lastExit.signal !== null ? ` (${row.lastExit.signal})` : ` (code ${row.lastExit.code ?? '?'})`;
  return new TfError('option', `${row.name} did not come up: it is ${row.state}${exit}`, { hint: `see tf logs ${row.name}` });
}

/**
 * The selected rows up and ready, each with a run newer than the one `before` showed. An
 * instance that exited, failed or backs off meanwhile crashed: waiting longer would not help.
 */
function upAgain(selected: (row: PsRow) => boolean, before: readonly PsRow[]): Pending {
  const oldPid = new Map(before.map((r) => [r.name, r.pid]));
  return (rows) => {
    for (const row of rows.filter(selected)) {
      const error = crashed(row);
      if (error !== undefined) throw error;
      if (row.state !== 'ready' || row.pid === null || row.pid === oldPid.get(row.name)) return describe(row);
    }
    return undefined;
  };
}

/** What `command` waits for, given the rows before it was sent. */
function pendingFor(command: Command, before: readonly PsRow[]): Pending | undefined {
  switch (command.cmd) {
    case 'restart':
      return upAgain((row) => matches(command.names, row) && before.some((b) => b.name === row.name), before);
    case 'stop':
      return (rows) => rows.filter((r) => matches(command.names, r) && !DOWN.has(r.state)).map(describe)[0];
    case 'scale': {
      const targets = new Map<string, number>();
      for (const change of command.scale) {
        const current = targets.get(change.type) ?? before.filter((r) => r.type === change.type).length;
        targets.set(change.type, typeof change.count === 'number' ? change.count : Math.max(0, current + change.count.delta));
      }
      // Only the new instances are waited for; those that were there stay as they were.
      const added = upAgain((row) => targets.has(row.type) && !before.some((b) => b.name === row.name), before);
      return (rows) => {
        for (const [type, count] of targets) {
          const now = rows.filter((r) => r.type === type).length;
          if (now !== count) return `${type} has ${now} instance${now === 1 ? '' : 's'}, not yet ${count}`;
        }
        return added(rows);
      };
    }
    default:
      return undefined;
  }
}

/**
 * Waits until what `command` asked for has happened (restarted instances ready, stopped ones
 * down, the new formation up), polling `tf ps`; a shutdown waits until tf is gone. Throws on a
 * crash or when `timeoutMs` runs out, naming what was still pending.
 */
export async function waitFor(ps: () => Promise<readonly PsRow[]>, command: Command, before: readonly PsRow[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = pendingFor(command, before);
  for (;;) {
    let left: string | undefined;
    try {
      const instances = await ps();
      left = command.cmd === 'shutdown' ? 'tf is still running' : pending?.(instances);
    } catch (error) {
      // A shutdown is done once nobody answers any more.
      if (
        command.cmd === 'shutdown' &&
        error instanceof TfError &&
        (error.message.startsWith('no tf running') || error.message.includes('closed the connection'))
      )
        return;
      throw error;
    }
    if (left === undefined) return;
    if (Date.now() >= deadline) throw new TfError('option', `gave up waiting after ${timeoutMs / 1000} s: ${left}`, { hint: 'see tf ps and tf logs' });
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
