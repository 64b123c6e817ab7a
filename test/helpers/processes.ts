import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterEach } from 'vitest';
import { processRow } from '../../src/host/process-table.js';
import { FIXTURES } from './tf.js';

/** A process a test started, named as the killer and the watchdog name it: pid and start time. */
export interface Started {
  readonly pid: number;
  readonly start: string;
}

const IDLE = 'setInterval(() => {}, 1 << 30)';

/**
 * Processes unrelated to tf for tests of the process table, the killer and the watchdog.
 * Everything started (and every grandchild learned) is SIGKILLed after each test.
 */
export function testProcesses() {
  const started: ChildProcess[] = [];
  const learned: number[] = [];
  afterEach(() => {
    for (const child of started.splice(0)) child.kill('SIGKILL');
    for (const pid of learned.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });

  /** An idle node process, by default leader of its own group. */
  function victim(env: Record<string, string> = {}, { script = IDLE, detached = true }: { script?: string; detached?: boolean } = {}): Started {
    const child = spawn(process.execPath, ['-e', script], { detached, stdio: 'ignore', env: { ...process.env, ...env } });
    started.push(child);
    const pid = child.pid as number;
    return { pid, start: processRow(pid)?.startTime as string };
  }

  /**
   * A group leader whose child left its group (setsid); resolves once the child's pid is
   * known, rejects with what the leader printed if it exits before saying it.
   */
  async function family(): Promise<Started & { readonly grandchild: number }> {
    const child = spawn(process.execPath, [path.join(FIXTURES, 'grandchild.mjs'), 'detached'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    started.push(child);
    let out = '';
    const grandchild = await new Promise<number>((resolve, reject) => {
      const collect = (d: Buffer): void => {
        out += d;
        const m = /GRANDCHILD (\d+)/.exec(out);
        if (m !== null) resolve(Number(m[1]));
      };
      child.stdout?.on('data', collect);
      child.stderr?.on('data', (d: Buffer) => (out += d));
      child.once('exit', (code, signal) => reject(new Error(`the family's leader exited (${signal ?? code}) before naming its grandchild:\n${out}`)));
    });
    learned.push(grandchild);
    const pid = child.pid as number;
    return { pid, start: processRow(pid)?.startTime as string, grandchild };
  }

  return { victim, family };
}
