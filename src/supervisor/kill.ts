import {
  descendants,
  isRunning,
  lastPid,
  markedProcesses,
  ownStartTime,
  processRow,
  processTable,
  type ProcessRef,
  type ProcessRow,
  type RunMarker,
} from '../host/process-table.js';

/** Signals a whole process group; false when nothing is left in it. */
function killGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

function killPid(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

const ref = (row: ProcessRow): ProcessRef => ({ pid: row.pid, startTime: row.startTime });

/** Every way the supervisor touches other processes; tests pass a fake. */
export interface Killer {
  /**
   * tf started this group leader: remember which process it is, so a reused pid is never taken
   * for it. Returns the process as named then (undefined if it is already gone).
   */
  started(pid: number): ProcessRef | undefined;
  /** tf is done with this group (empty, never signalled again): its record goes, so records stay bounded. */
  release(pgid: number): void;
  group(pgid: number, signal: NodeJS.Signals | 0): boolean;
  /** Signals the process only while it still is the one named (same pid, same start time). */
  pid(process: ProcessRef, signal: NodeJS.Signals): boolean;
  /** Signals every descendant of a leader tf started, including those that left its group. */
  tree(pid: number, signal: NodeJS.Signals): void;
  /** What is still running of the groups and processes given; zombies do not count. */
  stillAlive(groups: readonly number[], pids: readonly ProcessRef[]): { groups: number[]; pids: ProcessRef[] };
  /**
   * Descendants of the given group leaders that left their leader's group (setsid, a new
   * process group): a signal to the group does not reach them, so they are signalled one by one.
   */
  escapees(leaders: readonly number[]): ProcessRef[];
  /**
   * Processes carrying this run's marker outside the given groups and not among `known`:
   * what daemonized (double fork, setsid after its parent exited) and so left every tree.
   */
  marked(groups: readonly number[], known: readonly ProcessRef[]): ProcessRef[];
  /** The kernel's last pid handed out, where it can be read: unchanged, nothing was started since (see process-table). */
  lastPid?(): number | undefined;
}

export interface KillerOptions {
  /** The marker every instance carries; without it, `marked` finds nothing. */
  readonly marker?: RunMarker;
  /** Hears each group found empty, so the watchdog forgets it before its number can be reused. */
  readonly forget?: (pgid: number) => void;
  /** Processes never signalled by pid, whatever they carry (the watchdog). */
  readonly spare?: () => readonly number[];
}

/**
 * The real killer. It knows each leader tf started by its start time: a group whose leader's
 * pid now names another process, or that was once found empty, is never signalled again
 * (Linux does not reuse a number as a pid while a group still holds it, so the group of a live
 * leader, or a non-empty leaderless group, is still tf's).
 */
export function processKiller({ marker, forget = () => {}, spare = () => [] }: KillerOptions = {}): Killer {
  const leaders = new Map<number, string | 'gone'>();
  const since = marker === undefined ? undefined : ownStartTime();
  const gone = (pgid: number): false => {
    if (leaders.get(pgid) !== 'gone') forget(pgid);
    leaders.set(pgid, 'gone');
    return false;
  };
  /** The leader's pid names the process tf started, or no process at all. */
  const leaderIsOurs = (pgid: number, start: string | undefined): boolean => {
    const row = processRow(pgid);
    return row === undefined || row.startTime === start;
  };
  return {
    started(pid) {
      const row = processRow(pid);
      if (row === undefined) return undefined;
      leaders.set(pid, row.startTime);
      return ref(row);
    },
    release(pgid) {
      leaders.delete(pgid);
    },
    group(pgid, signal) {
      const start = leaders.get(pgid);
      if (start === 'gone') return false;
      if (start !== undefined && !leaderIsOurs(pgid, start)) return gone(pgid);
      try {
        process.kill(-pgid, signal);
        return true;
      } catch (error) {
        // EPERM: members tf may not signal (setuid), still there.
        return (error as NodeJS.ErrnoException).code === 'ESRCH' ? gone(pgid) : false;
      }
    },
    pid(process, signal) {
      return isRunning(process) && killPid(process.pid, signal);
    },
    tree(pid, signal) {
      const start = leaders.get(pid);
      // Without a record of the leader, its pid may name someone else's process by now.
      if (start === undefined || start === 'gone' || processRow(pid)?.startTime !== start) return;
      for (const row of descendants([pid])) if (!row.zombie) killPid(row.pid, signal);
    },
    stillAlive(groups, pids) {
      const liveGroups = groups.filter((pgid) => leaders.get(pgid) !== 'gone' && killGroup(pgid, 0));
      const livePids = pids.filter((p) => killPid(p.pid, 0));
      let result = { groups: liveGroups, pids: livePids };
      if (liveGroups.length > 0 || livePids.length > 0) {
        // kill(0) also succeeds for zombies that init has not reaped yet, and for a reused pid: look closer.
        const table = processTable();
        const running = new Set(table.filter((r) => !r.zombie).map((r) => r.pgid));
        const rows = new Map(table.map((r) => [r.pid, r]));
        result = { groups: liveGroups.filter((g) => running.has(g)), pids: livePids.filter((p) => isRunning(p, rows.get(p.pid))) };
      }
      for (const pgid of groups) if (!result.groups.includes(pgid)) gone(pgid);
      return result;
    },
    escapees(leadersGiven) {
      return descendants(leadersGiven)
        .filter((row) => row.pgid !== row.root && !row.zombie)
        .map(ref);
    },
    lastPid,
    marked(groups, known) {
      if (marker === undefined) return [];
      const skip = new Set([process.pid, ...spare(), ...known.map((p) => p.pid)]);
      return markedProcesses(marker, { since, spare: [...skip] })
        .filter((row) => !groups.includes(row.pgid))
        .map(ref);
    },
  };
}

/** For a supervisor built without one: knows no marker and tells no watchdog. */
export const realKiller: Killer = processKiller();
