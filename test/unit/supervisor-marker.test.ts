import { noWatchdog } from '../../src/supervisor/watchdog.js';
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { defaultPolicy, type Instance } from '../../src/domain.js';
import type { ProcessRef } from '../../src/host/process-table.js';
import type { Killer } from '../../src/supervisor/kill.js';
import type { ChildHandle } from '../../src/supervisor/spawn.js';
import { Supervisor } from '../../src/supervisor/supervisor.js';

/** A child without output pipes; the fake killer makes it exit on its group's SIGTERM. */
class QuietChild extends EventEmitter implements ChildHandle {
  readonly pipes = [];
  constructor(readonly pid: number) {
    super();
  }
}

const instance: Instance = {
  name: 'redis.1',
  type: 'redis',
  number: 1,
  command: 'x',
  launch: { file: '/bin/sh', args: ['-c', 'x'] },
  env: { PORT: '5000' },
  port: 5000,
  cwd: '/',
  color: 0,
  policy: defaultPolicy('redis'),
};

/**
 * A killer that records what it is asked to do; SIGTERM to a group makes `child()` exit. The
 * marker scans (`marked`), liveness and the pid counter come from each test.
 */
function recordingKiller(calls: string[], child: () => QuietChild | undefined, parts: Pick<Killer, 'marked' | 'stillAlive' | 'lastPid'>): Killer {
  return {
    started: (pid) => void calls.push(`started ${pid}`),
    release: () => {},
    group(pgid, signal) {
      if (signal === 0) return false;
      calls.push(`group ${signal} ${pgid}`);
      if (signal === 'SIGTERM') setImmediate(() => (child()?.emit('exit', 0, null), child()?.emit('close')));
      return true;
    },
    pid: (p, signal) => (calls.push(`pid ${signal} ${p.pid}`), true),
    tree: () => {},
    escapees: () => [],
    ...parts,
  };
}

describe('Supervisor and the run marker', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('adds the marker to every environment it spawns, and stops the marked processes: TERM, then KILL what is left', async () => {
    const marker = { name: 'TF_SUPERVISOR_RUN', value: '1.ab' };
    const daemon: ProcessRef = { pid: 900, startTime: '7' };
    const late: ProcessRef = { pid: 901, startTime: '8' };
    const calls: string[] = [];
    const spawned: Record<string, string>[] = [];
    let child: QuietChild | undefined;
    let markedScans = 0;
    const killer = recordingKiller(calls, () => child, {
      // The daemon ignores its SIGTERM; the grace period is spent polling it.
      stillAlive: (_groups, pids) => ({ groups: [], pids: [...pids] }),
      marked: (groups, known) => {
        calls.push(`marked [${groups.join()}] [${known.map((p) => p.pid).join()}]`);
        return markedScans++ === 0 ? [daemon] : [late];
      },
    });
    const supervisor = new Supervisor([instance], { timeoutMs: 1000, marker }, () => {}, {
      spawn: (i) => {
        spawned.push({ ...i.env });
        child = new QuietChild(100);
        return child;
      },
      killer,
      watchdog: noWatchdog,
    });
    const done = supervisor.run();
    await vi.advanceTimersByTimeAsync(0);
    expect(spawned).toEqual([{ PORT: '5000', TF_SUPERVISOR_RUN: '1.ab' }]);
    expect(instance.env).toEqual({ PORT: '5000' });
    supervisor.signal('SIGINT');
    await vi.advanceTimersByTimeAsync(2000);
    expect(await done).toBe(130);
    expect(calls).toEqual([
      'started 100',
      'group SIGTERM 100',
      'marked [100] []',
      'pid SIGTERM 900',
      'pid SIGKILL 900',
      'marked [100] [900]',
      'pid SIGKILL 901',
    ]);
  });
  it('scans for the marker a second time only when the pid counter moved during the stop', async () => {
    const marker = { name: 'TF_SUPERVISOR_RUN', value: '1.ab' };
    const scans = async (counters: number[]): Promise<string[]> => {
      const calls: string[] = [];
      let child: QuietChild | undefined;
      const killer = recordingKiller(calls, () => child, {
        stillAlive: () => ({ groups: [], pids: [] }),
        marked: (groups, known) => (calls.push(`marked [${groups.join()}] [${known.map((p) => p.pid).join()}]`), []),
        lastPid: () => counters.shift(),
      });
      const supervisor = new Supervisor([instance], { timeoutMs: 1000, marker }, () => {}, {
        spawn: () => (child = new QuietChild(100)),
        killer,
        watchdog: noWatchdog,
      });
      const done = supervisor.run();
      await vi.advanceTimersByTimeAsync(0);
      supervisor.signal('SIGTERM');
      await vi.advanceTimersByTimeAsync(2000);
      expect(await done).toBe(143);
      return calls;
    };
    expect(await scans([7, 7])).toEqual(['started 100', 'group SIGTERM 100', 'marked [100] []']);
    expect(await scans([7, 9])).toEqual(['started 100', 'group SIGTERM 100', 'marked [100] []', 'marked [100] []']);
    // A counter that cannot be read: always the second scan.
    expect(await scans([])).toEqual(['started 100', 'group SIGTERM 100', 'marked [100] []', 'marked [100] []']);
  });
});
