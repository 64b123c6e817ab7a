import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
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

/** pgid of every process that is not a zombie, read from /proc (Linux) or ps (elsewhere). */
function runningGroups(): Set<number> {
  const groups = new Set<number>();
  try {
    for (const name of readdirSync('/proc')) {
      if (name.charCodeAt(0) > 57) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (fields[0] !== 'Z') groups.add(Number(fields[2]));
      } catch {
        // The process ended while we looked.
      }
    }
    return groups;
  } catch {
    const ps = spawnSync('ps', ['-A', '-o', 'pgid=,stat='], { encoding: 'utf8' });
    for (const line of ps.stdout.split('\n')) {
      const [pgid, stat] = line.trim().split(/\s+/);
      if (pgid !== undefined && stat !== undefined && !stat.startsWith('Z')) groups.add(Number(pgid));
    }
    return groups;
  }
}

/**
 * The groups, of those given, that still have a live member. A group's leader may be gone
 * while descendants live on; zombies waiting for init to reap them do not count.
 */
export function aliveGroups(pgids: readonly number[]): number[] {
  const candidates = pgids.filter((pgid) => killGroup(pgid, 0));
  if (candidates.length === 0) return candidates;
  const running = runningGroups();
  return candidates.filter((pgid) => running.has(pgid));
}

/** Kills a process and every descendant, including those that left its group. */
export function killTree(pid: number, signal: NodeJS.Signals): void {
  treeKill(pid, signal, () => {
    // Failures mean the tree is already gone; the group kill beside it covers the rest.
  });
}

export interface Killer {
  group(pgid: number, signal: NodeJS.Signals | 0): boolean;
  tree(pid: number, signal: NodeJS.Signals): void;
  alive(pgids: readonly number[]): number[];
}

export const realKiller: Killer = { group: killGroup, tree: killTree, alive: aliveGroups };
