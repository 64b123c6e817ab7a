import type { Invocation } from '../cli/args.js';
import type { PsRow } from '../control/protocol.js';
import type { CommandContext } from './context.js';
import { ask, noOperands } from './control-client.js';

/** `3s`, `4m05s`, `2h07m`, `3d04h`: short enough for a column, exact enough to tell a fresh restart. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const two = (n: number): string => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${two(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86_400)}d${two(Math.floor(s / 3600) % 24)}h`;
}

const lastExit = (row: PsRow): string =>
  row.lastExit === null ? '-' : row.lastExit.signal !== null ? row.lastExit.signal : `code ${row.lastExit.code ?? '?'}`;

/** `tf ps`: one row per instance of the running tf, as a table or (--json) one object per line. */
export async function ps(invocation: Invocation, context: CommandContext): Promise<number> {
  noOperands(invocation);
  const { instances } = await ask(invocation, context, { cmd: 'ps' });
  const now = Date.now();
  const uptime = (row: PsRow): number | null => (row.startedAt === null ? null : Math.max(0, now - row.startedAt));
  if (invocation.options.json) {
    const lines = instances.map((row) => JSON.stringify({ ...row, uptimeMs: uptime(row) }));
    context.stdout.write(lines.map((l) => `${l}\n`).join(''));
    return 0;
  }
  if (instances.length === 0) {
    context.stdout.write('no instances (the formation is empty; tf scale TYPE=N starts some)\n');
    return 0;
  }
  const header = ['NAME', 'STATE', 'PID', 'PORT', 'UPTIME', 'RESTARTS', 'LAST EXIT'];
  const rows = instances.map((row) => {
    const up = uptime(row);
    return [
      row.name,
      row.state,
      row.pid === null ? '-' : String(row.pid),
      row.port === null ? '-' : String(row.port),
      up === null ? '-' : duration(up),
      String(row.restarts),
      lastExit(row),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const text = [header, ...rows].map((cells) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
  context.stdout.write(`${text.join('\n')}\n`);
  return 0;
}
