import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { WATCHDOG_SCRIPT } from '../../src/supervisor/watchdog.js';
import { testProcesses } from '../helpers/processes.js';
import { expectAllDead, isAlive } from '../helpers/tf.js';

const MARK = 'TF_SUPERVISOR_RUN=4242.00112233aabbccdd';
const { victim, family } = testProcesses();

/** Runs the watchdog with these lines, then closes its pipe as a dying tf does; resolves when it is done. */
async function watchdogAfterEof(lines: readonly string[]): Promise<void> {
  const { TF_SUPERVISOR_RUN: _, ...env } = process.env;
  const sh = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT], { detached: true, stdio: ['pipe', 'ignore', 'inherit'], env });
  const done = new Promise((resolve) => sh.on('close', resolve));
  sh.stdin.end(lines.map((l) => `${l}\n`).join(''));
  await done;
}

describe('the watchdog, after tf dies', () => {
  it('stops the recorded groups, processes, their descendants and the marked processes', async () => {
    const group = await family();
    const single = victim();
    const marked = victim({ TF_SUPERVISOR_RUN: MARK.split('=')[1] as string }, { script: "process.on('SIGTERM', () => {}); setInterval(() => {}, 1 << 30)" });
    await watchdogAfterEof([`m ${MARK}`, `g ${group.pid} ${group.start}`, `p ${single.pid} ${single.start}`]);
    await expectAllDead([group.pid, group.grandchild, single.pid, marked.pid], 1000);
  }, 10_000);

  it('never signals a recorded pid that now names another process (another start time), nor its group or tree', async () => {
    const group = await family();
    const single = victim();
    await watchdogAfterEof([`g ${group.pid} 1${group.start}`, `p ${single.pid} 1${single.start}`]);
    expect([group.pid, group.grandchild, single.pid].filter((pid) => !isAlive(pid))).toEqual([]);
  }, 10_000);

  it('spares what only looks marked, what it was told to forget, and everything after a clean release', async () => {
    const value = MARK.split('=')[1] as string;
    const lookalikes = [victim({ TF_SUPERVISOR_RUN: `${value}0` }), victim({ OTHER: MARK }), victim({ TF_SUPERVISOR_RUN_X: value })];
    const forgotten = victim();
    await watchdogAfterEof([`m ${MARK}`, `g ${forgotten.pid} ${forgotten.start}`, `f ${forgotten.pid}`]);
    const released = victim({ TF_SUPERVISOR_RUN: value });
    await watchdogAfterEof([`m ${MARK}`, `g ${released.pid} ${released.start}`, 'q']);
    expect([...lookalikes, forgotten, released].map((v) => v.pid).filter((pid) => !isAlive(pid))).toEqual([]);
  }, 10_000);
  it('removes a directory of FIFO names tf had not opened, only while it is that directory and holds only FIFOs', async () => {
    const fifoDir = (): string => {
      const dir = mkdtempSync(path.join(tmpdir(), 'tf-pipes-test-'));
      spawnSync('mkfifo', [path.join(dir, '0'), path.join(dir, '1')]);
      return dir;
    };
    const made = fifoDir();
    await watchdogAfterEof([`d ${statSync(made).ino} ${made}`]);
    expect(existsSync(made)).toBe(false);
    // Another directory at that path now (another inode): left alone.
    const other = fifoDir();
    await watchdogAfterEof([`d ${statSync(other).ino + 1} ${other}`]);
    expect(existsSync(path.join(other, '0'))).toBe(true);
    // A file that is no FIFO keeps the directory; the FIFOs go.
    writeFileSync(path.join(other, 'note'), 'x');
    await watchdogAfterEof([`d ${statSync(other).ino} ${other}`]);
    expect([existsSync(path.join(other, '0')), existsSync(path.join(other, 'note'))]).toEqual([false, true]);
    // After a clean release nothing is removed.
    const kept = fifoDir();
    await watchdogAfterEof([`d ${statSync(kept).ino} ${kept}`, 'q']);
    expect(existsSync(path.join(kept, '0'))).toBe(true);
    for (const dir of [other, kept]) rmSync(dir, { recursive: true, force: true });
  }, 10_000);
});
