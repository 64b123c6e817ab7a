import { describe, expect, it, vi } from 'vitest';
import { testProcesses } from '../helpers/processes.js';
import { expectAllDead, isAlive } from '../helpers/tf.js';

/**
 * A reused pid needs the kernel to hand out a number again, which a test cannot force without
 * root: the process table is wrapped so that one pid shows another start time from a point
 * on, exactly as it reads once the leader tf recorded is gone and its number names a new process.
 */
const reused = new Map<number, string>();
vi.mock('../../src/host/process-table.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/host/process-table.js')>();
  return {
    ...real,
    processRow: (pid: number) => {
      const row = real.processRow(pid);
      const start = reused.get(pid);
      return row === undefined || start === undefined ? row : { ...row, startTime: start };
    },
  };
});

const { processKiller } = await import('../../src/supervisor/kill.js');
const { victim } = testProcesses();

describe('the killer and a reused leader pid', () => {
  it("leaves the group of a process that took a recorded leader's pid alone, and forgets it", () => {
    const forgotten: number[] = [];
    const killer = processKiller({ forget: (pgid) => forgotten.push(pgid) });
    const other = victim();
    expect(killer.started(other.pid)).toEqual({ pid: other.pid, startTime: other.start });
    reused.set(other.pid, `${other.start}1`);
    expect(killer.group(other.pid, 'SIGKILL')).toBe(false);
    expect(killer.group(other.pid, 0)).toBe(false);
    killer.tree(other.pid, 'SIGKILL');
    expect(isAlive(other.pid), 'the process on the reused pid was signalled').toBe(true);
    expect(forgotten).toEqual([other.pid]);
    reused.delete(other.pid);
  });

  it('signals the group while the recorded leader is the one on its pid', async () => {
    const killer = processKiller();
    const own = victim();
    killer.started(own.pid);
    expect(killer.group(own.pid, 'SIGKILL')).toBe(true);
    await expectAllDead([own.pid]);
  });
});
