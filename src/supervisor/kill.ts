import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import treeKill from 'tree-kill';

/** Signals a whole process group; false when nothing is left in it. */
export function killGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

export function killPid(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

const procBuffer = Buffer.allocUnsafe(4096);

/**
 * A small /proc file in one read: readFileSync also stats the file and reads it twice (a
 * /proc file has no size), three times the cost on a stop's path, which reads one per process.
 * Throws as readFileSync does when the process is gone.
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

interface ProcessRow {
  readonly pid: number;
  readonly ppid: number;
  readonly pgid: number;
  readonly zombie: boolean;
}

/** Every process on the machine, read from /proc (Linux) or ps (macOS). */
function processTable(): ProcessRow[] {
  const rows: ProcessRow[] = [];
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    const ps = spawnSync('ps', ['-A', '-o', 'pid=,ppid=,pgid=,stat='], { encoding: 'utf8' });
    for (const line of ps.stdout.split('\n')) {
      const [pid, ppid, pgid, stat] = line.trim().split(/\s+/);
      if (stat !== undefined) rows.push({ pid: Number(pid), ppid: Number(ppid), pgid: Number(pgid), zombie: stat.startsWith('Z') });
    }
    return rows;
  }
  for (const name of names) {
    if (name.charCodeAt(0) > 57) continue;
    const row = procRow(Number(name));
    // Undefined: the process ended while we looked.
    if (row !== undefined) rows.push(row);
  }
  return rows;
}

/** One process's row from /proc/PID/stat; undefined once it is gone. */
function procRow(pid: number): ProcessRow | undefined {
  try {
    const stat = readProc(`/proc/${pid}/stat`);
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, ppid: Number(fields[1]), pgid: Number(fields[2]), zombie: fields[0] === 'Z' };
  } catch {
    return undefined;
  }
}

/** What is still alive of the groups and single processes given; zombies do not count. */
export function stillAlive(groups: readonly number[], pids: readonly number[]): { groups: number[]; pids: number[] } {
  const liveGroups = groups.filter((pgid) => killGroup(pgid, 0));
  const livePids = pids.filter((pid) => killPid(pid, 0));
  if (liveGroups.length === 0 && livePids.length === 0) return { groups: liveGroups, pids: livePids };
  // kill(0) also succeeds for zombies that init has not reaped yet: look closer.
  const table = processTable();
  const running = new Set(table.filter((r) => !r.zombie).map((r) => r.pgid));
  const runningPids = new Set(table.filter((r) => !r.zombie).map((r) => r.pid));
  return { groups: liveGroups.filter((g) => running.has(g)), pids: livePids.filter((p) => runningPids.has(p)) };
}

/** Children of a process from /proc (every thread's list); undefined where /proc lacks them. */
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
 * Descendants of the given group leaders that left their leader's group (setsid, a new
 * process group): a signal to the group does not reach them, so they are signalled one by one.
 * Walks only tf's own trees through /proc's children lists where the kernel has them (this
 * runs on every stop, before the first SIGTERM); elsewhere reads the whole process table.
 */
export function escapees(leaders: readonly number[]): number[] {
  const found: number[] = [];
  const queue: [number, number][] = [];
  for (const leader of leaders) {
    const children = procChildren(leader);
    if (children === undefined) return escapeesFromTable(leaders);
    for (const child of children) queue.push([child, leader]);
  }
  for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
    const [pid, leader] = item;
    const info = procRow(pid);
    if (info === undefined) continue;
    if (info.pgid !== leader && !info.zombie) found.push(pid);
    for (const child of procChildren(pid) ?? []) queue.push([child, leader]);
  }
  return found;
}

function escapeesFromTable(leaders: readonly number[]): number[] {
  if (leaders.length === 0) return [];
  const table = processTable();
  const children = new Map<number, ProcessRow[]>();
  for (const row of table) {
    const siblings = children.get(row.ppid);
    if (siblings === undefined) children.set(row.ppid, [row]);
    else siblings.push(row);
  }
  const found: number[] = [];
  for (const leader of leaders) {
    const queue = [...(children.get(leader) ?? [])];
    for (let row = queue.shift(); row !== undefined; row = queue.shift()) {
      if (row.pgid !== leader && !row.zombie) found.push(row.pid);
      queue.push(...(children.get(row.pid) ?? []));
    }
  }
  return found;
}

/** Kills a process and every descendant, including those that left its group. */
export function killTree(pid: number, signal: NodeJS.Signals): void {
  treeKill(pid, signal, () => {
    // Failures mean the tree is already gone; the group kill beside it covers the rest.
  });
}

/** Every way the supervisor touches other processes; tests pass a fake. */
export interface Killer {
  group(pgid: number, signal: NodeJS.Signals | 0): boolean;
  pid(pid: number, signal: NodeJS.Signals): boolean;
  tree(pid: number, signal: NodeJS.Signals): void;
  stillAlive(groups: readonly number[], pids: readonly number[]): { groups: number[]; pids: number[] };
  escapees(leaders: readonly number[]): number[];
}

export const realKiller: Killer = { group: killGroup, pid: killPid, tree: killTree, stillAlive, escapees };
