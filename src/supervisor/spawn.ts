import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { Instance } from '../domain.js';

/** The part of a child process the supervisor uses; a ChildProcess has it, and so do test fakes. */
export interface ChildHandle {
  readonly pid?: number | undefined;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  once(event: 'close', listener: () => void): unknown;
  once(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

export type SpawnFn = (instance: Instance) => ChildHandle;

/**
 * Starts an instance as the leader of its own process group (detached), so one signal to
 * the group reaches its whole tree and a terminal Ctrl-C reaches only tf.
 *
 * Node's spawn rather than execa here: of execa's features a long-running detached child
 * can use none (no buffering, no result promise, and its cleanup does not cover detached
 * groups), while loading it costs about 40 ms of start-up. `tf run` uses execa.
 */
export const spawnInstance: SpawnFn = (instance) =>
  spawn(instance.launch.file, [...instance.launch.args], {
    cwd: instance.cwd,
    env: instance.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
