import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';

/**
 * The one place tf reads which processes exist: /proc on Linux, `ps` elsewhere. Every tree
 * walk, liveness check and marker scan goes through here, so they all follow the same rules.
 */

export interface ProcessRow {
  readonly pid: number;
  readonly ppid: number;
  readonly pgid: number;
  /**
   * When the process started, as the system says it: clock ticks since boot (field 22 of
   * /proc/PID/stat), or ps's `lstart` elsewhere. With the pid it names one process: a pid
   * the kernel has handed to someone else since shows another start time.
   */
  readonly startTime: string;
  /** Exited, waiting for its parent to reap it: it holds a pid but runs nothing. */
  readonly zombie: boolean;
}

/** A process tf means to signal, named so that a reused pid is never mistaken for it. */
export interface ProcessRef {
  readonly pid: number;
  readonly startTime: string;
}

/** A descendant, with the root it was found under. */
export interface Descendant extends ProcessRow {
  readonly root: number;
}

/**
 * The variable every process of one tf run carries, with a value unique to that run: the
 * processes that left tf's groups and trees (daemons, double forks) still carry it.
 */
export interface RunMarker {
  readonly name: string;
  readonly value: string;
}

export const MARKER_NAME = 'TF_SUPERVISOR_RUN';

const hasProc = (): boolean => procAvailable ?? (procAvailable = readStat(process.pid) !== undefined);
let procAvailable: boolean | undefined;

const procBuffer = Buffer.allocUnsafe(4096);

/**
 * A small /proc file in one read: readFileSync also stats the file and reads it twice (a
 * /proc file has no size), and a stop reads one per process. Throws once the process is gone.
 */
function readProc(file: string): string {
  const fd = openSync(file, 'r');
  try {
    const n = readSync(fd, procBuffer, 0, procBuffer.length, null);
    const text = procBuffer.toString('latin1', 0, n);
    return n < procBuffer.length ? text : text + readFileSync(fd, 'latin1');
  } finally {
    closeSync(fd);
  }
}

/** One process's row from /proc/PID/stat; undefined once it is gone. */
function readStat(pid: number): ProcessRow | undefined {
  let stat: string;
  try {
    stat = readProc(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp ... starttime ...": comm may hold spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { pid, ppid: Number(fields[1]), pgid: Number(fields[2]), startTime: fields[19] ?? '', zombie: fields[0] === 'Z' };
}

const PS_COLUMNS = 'pid=,ppid=,pgid=,stat=,lstart=';

/** ps rows; lstart comes last because it holds spaces, which become `_` as the watchdog writes it. */
function psRows(args: readonly string[]): ProcessRow[] {
  const ps = spawnSync('ps', [...args, '-o', PS_COLUMNS], { encoding: 'utf8' });
  const rows: ProcessRow[] = [];
  for (const line of (ps.stdout ?? '').split('\n')) {
    const [pid, ppid, pgid, stat, ...start] = line.trim().split(/\s+/);
    if (stat === undefined || start.length === 0) continue;
    rows.push({ pid: Number(pid), ppid: Number(ppid), pgid: Number(pgid), startTime: start.join('_'), zombie: stat.startsWith('Z') });
  }
  return rows;
}

/** One process's row; undefined once it is gone. */
export function processRow(pid: number): ProcessRow | undefined {
  return hasProc() ? readStat(pid) : psRows(['-p', String(pid)])[0];
}

/** Every process on the machine. */
export function processTable(): ProcessRow[] {
  if (!hasProc()) return psRows(['-A']);
  const rows: ProcessRow[] = [];
  for (const name of readdirSync('/proc')) {
    if (name.charCodeAt(0) > 57) continue;
    const row = readStat(Number(name));
    // Undefined: the process ended while we looked.
    if (row !== undefined) rows.push(row);
  }
  return rows;
}

/** True while the process named by `ref` runs: not gone, not a zombie, not a newer process on its pid. */
export function isRunning(ref: ProcessRef, row: ProcessRow | undefined = processRow(ref.pid)): boolean {
  return row !== undefined && !row.zombie && row.startTime === ref.startTime;
}

/** Children of a process from /proc (every thread's list); undefined where the kernel lacks these lists. */
function procChildren(pid: number): number[] | undefined {
  let threads: string[];
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  const children: number[] = [];
  for (const tid of threads) {
    try {
      for (const child of readProc(`/proc/${pid}/task/${tid}/children`).split(' ')) {
        if (child !== '') children.push(Number(child));
      }
    } catch {
      return undefined;
    }
  }
  return children;
}

/**
 * Every descendant of the given roots (not the roots themselves), zombies included. Follows
 * /proc's children lists where the kernel has them, so only tf's own trees are read (this runs
 * before the first signal of every stop); elsewhere reads the whole table once.
 */
export function descendants(roots: readonly number[]): Descendant[] {
  const found: Descendant[] = [];
  const queue: [number, number][] = [];
  for (const root of roots) {
    const children = hasProc() ? procChildren(root) : undefined;
    if (children === undefined) return descendantsIn(processTable(), roots);
    for (const child of children) queue.push([child, root]);
  }
  for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
    const [pid, root] = item;
    const row = readStat(pid);
    if (row === undefined) continue;
    found.push({ ...row, root });
    for (const child of procChildren(pid) ?? []) queue.push([child, root]);
  }
  return found;
}

function descendantsIn(table: readonly ProcessRow[], roots: readonly number[]): Descendant[] {
  const children = new Map<number, ProcessRow[]>();
  for (const row of table) {
    const siblings = children.get(row.ppid);
    if (siblings === undefined) children.set(row.ppid, [row]);
    else siblings.push(row);
  }
  const found: Descendant[] = [];
  for (const root of roots) {
    const seen = new Set([root]);
    const queue = [...(children.get(root) ?? [])];
    for (let row = queue.shift(); row !== undefined; row = queue.shift()) {
      if (seen.has(row.pid)) continue;
      seen.add(row.pid);
      found.push({ ...row, root });
      queue.push(...(children.get(row.pid) ?? []));
    }
  }
  return found;
}

/**
 * A marker for one tf run: tf's pid and random bits, so neither a later run on a reused pid nor a
 * concurrent run shares it. It only has to be unique, not secret (any process of the user can
 * read it from a child's environment), so Math.random serves, without loading `node:crypto`.
 */
export function newRunMarker(): RunMarker {
  return { name: MARKER_NAME, value: `${process.pid}.${randomHex()}${randomHex()}` };
}

/** 8 hex digits (32 random bits). */
const randomHex = (): string =>
  Math.floor(Math.random() * 0x1_0000_0000)
    .toString(16)
    .padStart(8, '0');

/** The environment with the marker added. */
export const withMarker = (env: Readonly<Record<string, string>>, marker: RunMarker): Record<string, string> => ({ ...env, [marker.name]: marker.value });

/** True when the process's initial environment holds exactly `NAME=VALUE`. */
function carries(pid: number, entry: string): boolean {
  let environ: string;
  try {
    environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
  } catch {
    return false;
  }
  return environ.split('\0').includes(entry);
}

const ownUid = (): number | undefined => process.getuid?.();

/**
 * Every running process of this user that carries the marker, except the pids in `spare`.
 * Only processes that started no earlier than `since` (a start time from this table, tf's own)
 * can carry it, so only their environments are read. Linux only: elsewhere a process's
 * environment cannot be read reliably, and this finds nothing.
 */
export function markedProcesses(marker: RunMarker, options: { since?: string | undefined; spare?: readonly number[] } = {}): ProcessRow[] {
  if (!hasProc()) return [];
  const entry = `${marker.name}=${marker.value}`;
  const since = options.since === undefined ? undefined : Number(options.since);
  const spare = new Set(options.spare ?? []);
  const uid = ownUid();
  return processTable().filter((row) => {
    if (row.zombie || spare.has(row.pid) || (since !== undefined && Number(row.startTime) < since)) return false;
    if (!carries(row.pid, entry)) return false;
    try {
      return uid === undefined || statSync(`/proc/${row.pid}`).uid === uid;
    } catch {
      return false;
    }
  });
}

/**
 * The last pid the kernel handed out in this pid namespace (Linux), or undefined where it
 * cannot be read: when it has not moved, no process (nor thread) has been created since.
 */
export function lastPid(): number | undefined {
  try {
    const last = Number(readProc('/proc/sys/kernel/ns_last_pid'));
    return Number.isSafeInteger(last) ? last : undefined;
  } catch {
    return undefined;
  }
}

/** This process's own start time: nothing tf started can have started before it. */
export const ownStartTime = (): string | undefined => processRow(process.pid)?.startTime;
