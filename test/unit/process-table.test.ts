import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { descendants, lastPid, markedProcesses, newRunMarker, ownStartTime, processRow, processTable, withMarker } from '../../src/host/process-table.js';
import { processKiller } from '../../src/supervisor/kill.js';
import { testProcesses } from '../helpers/processes.js';
import { expectAllDead, isAlive } from '../helpers/tf.js';

const { victim, family } = testProcesses();

/** An idle process's pid. */
const idle = (env: Record<string, string> = {}): number => victim(env).pid;

describe('the process table', () => {
  it('reads a row with parent, group and start time', () => {
    const row = processRow(process.pid);
    expect(row).toMatchObject({ pid: process.pid, ppid: process.ppid, zombie: false });
    expect(row?.startTime).toMatch(/\S/);
    expect(processTable().find((r) => r.pid === process.pid)).toEqual(row);
    expect(ownStartTime()).toBe(row?.startTime);
  });

  it('finds descendants that left the group, with the root they were found under', async () => {
    const { pid: leader, grandchild } = await family();
    const found = descendants([leader]);
    expect(found.find((r) => r.pid === grandchild)).toMatchObject({ root: leader, ppid: leader });
    expect(found.find((r) => r.pid === grandchild)?.pgid).not.toBe(leader);
  }, 10_000);

  it('finds the processes carrying exactly the marker, started since a given time, except the spared', () => {
    const marker = newRunMarker();
    expect(marker.value).toMatch(new RegExp(`^${process.pid}\\.[0-9a-f]{16}$`));
    expect(newRunMarker().value).not.toBe(marker.value);
    const since = ownStartTime();
    const carrier = idle(withMarker({}, marker));
    const spared = idle(withMarker({}, marker));
    const lookalikes = [idle({ [marker.name]: `${marker.value}0` }), idle({ OTHER: `${marker.name}=${marker.value}` })];
    const pids = markedProcesses(marker, { since, spare: [spared] }).map((r) => r.pid);
    expect(pids).toEqual([carrier]);
    expect(lookalikes.every(isAlive)).toBe(true);
  });
});

describe('the pid counter', () => {
  const readable = existsSync('/proc/sys/kernel/ns_last_pid');
  if (!readable) console.log('skipped: /proc/sys/kernel/ns_last_pid is not readable here');
  // Other test files start processes meanwhile, so only the move is certain.
  it.skipIf(!readable)('moves when a process starts', () => {
    const before = lastPid();
    expect(before).toBeTypeOf('number');
    spawnSync('true');
    expect(lastPid()).not.toBe(before);
  });
});

describe('the killer', () => {
  it('never signals a process whose start time is not the one recorded (a reused pid)', async () => {
    const pid = idle();
    const start = processRow(pid)?.startTime as string;
    const killer = processKiller();
    expect(killer.pid({ pid, startTime: `1${start}` }, 'SIGTERM')).toBe(false);
    expect(killer.stillAlive([], [{ pid, startTime: `1${start}` }]).pids).toEqual([]);
    expect(isAlive(pid)).toBe(true);
    expect(killer.stillAlive([], [{ pid, startTime: start }]).pids).toEqual([{ pid, startTime: start }]);
    expect(killer.pid({ pid, startTime: start }, 'SIGTERM')).toBe(true);
    await expectAllDead([pid]);
  });

  it('walks and signals the tree only of a leader it started', async () => {
    const { pid: leader, grandchild } = await family();
    const killer = processKiller();
    killer.tree(leader, 'SIGKILL');
    expect(isAlive(grandchild), 'a leader tf did not record is not walked').toBe(true);
    expect(killer.escapees([leader])).toEqual([{ pid: grandchild, startTime: processRow(grandchild)?.startTime }]);
    killer.started(leader);
    killer.tree(leader, 'SIGKILL');
    await expectAllDead([grandchild]);
  }, 10_000);

  it('forgets a group once it is found empty, and never signals it again', async () => {
    const forgotten: number[] = [];
    const killer = processKiller({ forget: (pgid) => forgotten.push(pgid) });
    const pid = idle();
    killer.started(pid);
    expect(killer.stillAlive([pid], []).groups).toEqual([pid]);
    expect(killer.group(pid, 'SIGKILL')).toBe(true);
    await expectAllDead([pid]);
    expect(killer.stillAlive([pid], []).groups).toEqual([]);
    expect(forgotten).toEqual([pid]);
    expect(killer.group(pid, 0)).toBe(false);
    expect(forgotten).toEqual([pid]);
  });

  it('finds marked processes outside the given groups and known processes', () => {
    const marker = newRunMarker();
    const killer = processKiller({ marker });
    const inGroup = idle(withMarker({}, marker));
    const known = idle(withMarker({}, marker));
    const daemon = idle(withMarker({}, marker));
    const found = killer.marked([inGroup], [{ pid: known, startTime: processRow(known)?.startTime as string }]).map((p) => p.pid);
    expect(found).toEqual([daemon]);
  });
});
