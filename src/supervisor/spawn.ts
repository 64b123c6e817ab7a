import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import type { Instance } from '../domain.js';
import type { PipeCapacity } from '../host/pipe-capacity.js';
import { closeQuietly, FifoMaker, FifoPipe, StreamPipe, type OutputPipe, type PipeEnds } from './pipes.js';

/** The part of a child process the supervisor uses; spawned children have it, and so do test fakes. */
export interface ChildHandle {
  readonly pid?: number | undefined;
  readonly stdout: OutputPipe | null;
  readonly stderr: OutputPipe | null;
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  /** The child has exited and its pipes are closed: everything it wrote has been read. */
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
function spawnDetached(instance: Instance, stdout: number | 'pipe', stderr: number | 'pipe'): ChildProcess {
  return spawn(instance.launch.file, [...instance.launch.args], {
    cwd: instance.cwd,
    env: instance.env,
    detached: true,
    stdio: ['ignore', stdout, stderr],
  });
}

export interface SpawnerOptions {
  /** Makes the FIFOs; by default, for all `expected` instances in one go. */
  readonly fifos?: FifoMaker;
  /** Hears once why FIFOs cannot be made, when they cannot. */
  readonly onFallback?: (reason: string) => void;
  /** Grows the FIFOs that a child fills faster than tf reads them. */
  readonly capacity?: PipeCapacity;
}

/**
 * A spawner for `expected` instances: each child writes into FIFOs that tf reads with a
 * reused buffer (see pipes.ts), made for all of them in one go. Where FIFOs cannot be made,
 * children get Node's own pipes, which work the same at a higher cost per read, except that a
 * socket cannot be opened by name (/dev/stdout): `onFallback` hears why, once.
 */
export function instanceSpawner(expected: number, { fifos = new FifoMaker(expected * 2), onFallback = () => {}, capacity }: SpawnerOptions = {}): SpawnFn {
  let told = false;
  return (instance) => {
    const out = fifos.take();
    const err = out === undefined ? undefined : fifos.take();
    if (out === undefined || err === undefined) {
      if (out !== undefined) closeQuietly(out);
      if (!told) onFallback(fifos.failure ?? 'unknown reason');
      told = true;
      return nodePiped(spawnDetached(instance, 'pipe', 'pipe'));
    }
    let child: ChildProcess;
    try {
      child = spawnDetached(instance, out.write, err.write);
    } catch (error) {
      for (const ends of [out, err]) closeQuietly(ends);
      throw error;
    }
    // The child has its own copies now; tf holding a write end would keep the pipe from EOF.
    for (const ends of [out, err]) closeSync(ends.write);
    return new FifoChild(child, [out, err], capacity);
  };
}

/** A child writing into FIFOs: reports 'close' once it has exited and both pipes are closed. */
class FifoChild extends EventEmitter implements ChildHandle {
  readonly pid: number | undefined;
  readonly stdout: OutputPipe;
  readonly stderr: OutputPipe;

  constructor(child: ChildProcess, ends: readonly [PipeEnds, PipeEnds], capacity: PipeCapacity | undefined) {
    super();
    this.pid = child.pid;
    let waiting = 3; // the exit, and each pipe closed
    const settle = (): void => {
      if (--waiting === 0) this.emit('close');
    };
    const pipes = ends.map((e) => new FifoPipe(e.read, settle, capacity));
    [this.stdout, this.stderr] = pipes as [FifoPipe, FifoPipe];
    child.on('error', (error) => {
      // A child that never started leaves pipes nobody will read.
      if (this.pid === undefined) for (const pipe of pipes) pipe.discard();
      this.emit('error', error);
    });
    child.once('exit', (code, signal) => {
      this.emit('exit', code, signal);
      settle();
    });
  }
}

/** The fallback: Node's pipes, read as streams. */
function nodePiped(child: ChildProcess): ChildHandle {
  return {
    pid: child.pid,
    stdout: child.stdout === null ? null : new StreamPipe(child.stdout),
    stderr: child.stderr === null ? null : new StreamPipe(child.stderr),
    once: child.once.bind(child) as ChildHandle['once'],
    on: child.on.bind(child) as ChildHandle['on'],
  };
}
