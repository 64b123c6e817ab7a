import type { Readable } from 'node:stream';
import { execa } from 'execa';
import type { Instance } from '../domain.js';

/** The part of a child process the supervisor uses; a ChildProcess has it, and so do test fakes. */
export interface ChildHandle {
  readonly pid?: number | undefined;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  once(event: 'close', listener: () => void): unknown;
  once(event: 'error', listener: (error: Error) => void): unknown;
}

export type SpawnFn = (instance: Instance) => ChildHandle;

/**
 * Starts an instance as the leader of its own process group (detached), so one signal to
 * the group reaches its whole tree and a terminal Ctrl-C reaches only tf. execa's cleanup
 * does not cover detached children: the supervisor and the watchdog own their end.
 */
export const spawnInstance: SpawnFn = (instance) =>
  execa(instance.launch.file, [...instance.launch.args], {
    cwd: instance.cwd,
    env: instance.env,
    extendEnv: false,
    detached: true,
    cleanup: false,
    buffer: false,
    reject: false,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
