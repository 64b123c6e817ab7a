import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { closeSync, existsSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import type { Instance, OutputStream } from '../domain.js';
import { TfError } from '../errors.js';
import { openDescriptorCount, openFileLimit } from '../host/descriptors.js';
import { closeQuietly, DescriptorsExhausted, FifoMaker, fifoHome, runMkfifo, type PipeEnds } from '../host/fifos.js';
import { FifoPipe, StreamPipe, type OutputPipe } from './pipes.js';

/** One pipe a child writes into, and which of its streams that is. */
export interface ChildPipe {
  readonly stream: OutputStream;
  readonly pipe: OutputPipe;
}

/** The part of a child process the supervisor uses; spawned children have it, and so do test fakes. */
export interface ChildHandle {
  readonly pid?: number | undefined;
  /** One 'output' pipe (stdout and stderr in the order written), or 'stdout' and 'stderr' when split. */
  readonly pipes: readonly ChildPipe[];
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  /** The child has exited and its pipes are closed: everything it wrote has been read. */
  once(event: 'close', listener: () => void): unknown;
  /** A child that could not start (no pid) reports why, as a SpawnError. */
  once(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

export type SpawnFn = (instance: Instance) => ChildHandle;

/**
 * A process that could not be started, in execa's error shape: `code` is the errno name
 * ('ENOENT', 'EMFILE') or Node's error code. The message is tf's own (see startFailure), never
 * Node's, which may quote a value of the environment.
 */
export class SpawnError extends Error {
  readonly code: string | undefined;
  /** The instance's name (`web.1`). */
  readonly instance: string;

  constructor(message: string, instance: string, code: string | undefined, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'SpawnError';
    this.instance = instance;
    this.code = code;
  }
}

/** The descriptors are too few for the instances, found before any was started; facts as fields. */
export class TooManyOpenFiles extends TfError {
  constructor(
    readonly instances: number,
    readonly needed: number,
    readonly limit: number,
  ) {
    super(
      'spawn',
      `too many open files: ${instances} instance${instances === 1 ? '' : 's'} need about ${needed} descriptors, the limit is ${limit} (ulimit -n)`,
      {
        hint: 'raise it or run fewer',
      },
    );
  }
}

/**
 * Descriptors tf needs besides its pipes: its own files, the watchdog's pipe, and the pipe
 * Node opens for a moment in each spawn to learn whether exec worked.
 */
const SPARE_DESCRIPTORS = 16;

/**
 * Starts an instance as the leader of its own process group (detached), so one signal to
 * the group reaches its whole tree and a terminal Ctrl-C reaches only tf.
 *
 * Node's spawn rather than execa here: of execa's features a long-running detached child
 * can use none (no buffering, no result promise, and its cleanup does not cover detached
 * groups), while loading it costs start-up time. `tf run` uses execa.
 */
function spawnDetached(instance: Instance, file: string, args: readonly string[], stdio: StdioOptions): ChildProcess {
  return spawn(file, [...args], { cwd: instance.cwd, env: instance.env, detached: true, stdio });
}

export interface SpawnerOptions {
  /** Makes the FIFOs; by default, for all `expected` instances in one go. */
  readonly fifos?: FifoMaker;
  /** For the default FIFO maker: hears each directory it makes names in (the watchdog's). */
  readonly onFifoDirectory?: (path: string, inode: number) => void;
  /** Hears once why FIFOs cannot be made, when they cannot. */
  readonly onFallback?: (reason: string) => void;
  /**
   * Two pipes per child, 'stdout' and 'stderr', instead of one for both. tf reads them
   * separately, so the order between a line on stdout and one on stderr is then not kept.
   */
  readonly splitStderr?: boolean;
  /** This process's limit on open files; undefined where unknown (then EMFILE is met as it comes). */
  readonly fileLimit?: () => number | undefined;
}

/** The pipes each instance's output takes: one for both streams, or stdout and stderr apart. */
export const outputStreams = (splitStderr: boolean): readonly OutputStream[] => (splitStderr ? ['stdout', 'stderr'] : ['output']);

/**
 * A spawner for `expected` instances: each child writes into FIFOs that tf reads with a
 * reused buffer (see pipes.ts), made for all of them in one go. By default a child has one
 * FIFO as both stdout and stderr, so what it writes to either arrives in the order written.
 * Where FIFOs cannot be made, children get Node's own pipes, which work the same at a higher
 * cost per read, except that a socket cannot be opened by name (/dev/stdout): `onFallback`
 * hears why, once.
 *
 * Throws TooManyOpenFiles, before anything is started, when the limit on open files is known
 * and too low for the batch: every FIFO's two ends are open until its child has started.
 */
export function instanceSpawner(expected: number, options: SpawnerOptions = {}): SpawnFn {
  const streams = outputStreams(options.splitStderr === true);
  const {
    fifos = new FifoMaker(expected * streams.length, runMkfifo, fifoHome, options.onFifoDirectory),
    onFallback = () => {},
    fileLimit = openFileLimit,
  } = options;
  // Counted before any FIFO is open: what tf holds of its own.
  const needed = (openDescriptorCount() ?? 0) + 2 * expected * streams.length + SPARE_DESCRIPTORS;
  const limit = expected > 0 ? fileLimit() : undefined;
  if (limit !== undefined && needed > limit) throw new TooManyOpenFiles(expected, needed, limit);
  const failure = (error: unknown, instance: Instance): SpawnError => spawnError(error, instance, () => ({ instances: expected, needed, limit: fileLimit() }));

  let told = false;
  return (instance) => {
    let ends: PipeEnds[];
    try {
      ends = takeAll(fifos, streams.length);
    } catch (error) {
      throw failure(error, instance);
    }
    if (ends.length < streams.length) {
      if (!told) onFallback(fifos.failure ?? 'unknown reason');
      told = true;
      return nodePiped(instance, streams, failure);
    }
    // Merged, the one FIFO is both fd 1 and fd 2, so the kernel keeps the order of writes.
    const [out, err = out] = ends.map((pair) => pair.write);
    let child: ChildProcess;
    try {
      child = spawnDetached(instance, instance.launch.file, instance.launch.args, ['ignore', out, err]);
    } catch (error) {
      for (const pair of ends) closeQuietly(pair);
      throw failure(error, instance);
    }
    // The child has its own copies now; tf holding a write end would keep the pipe from EOF.
    for (const pair of ends) closeSync(pair.write);
    return new FifoChild(child, streams, ends, (error) => failure(error, instance));
  };
}

/** `count` FIFOs, or fewer where none can be made (the ones taken are closed again then). */
function takeAll(fifos: FifoMaker, count: number): PipeEnds[] {
  const ends: PipeEnds[] = [];
  for (let i = 0; i < count; i++) {
    let pair: PipeEnds | undefined;
    try {
      pair = fifos.take();
    } catch (error) {
      for (const taken of ends) closeQuietly(taken);
      throw error;
    }
    if (pair === undefined) {
      for (const taken of ends) closeQuietly(taken);
      return [];
    }
    ends.push(pair);
  }
  return ends;
}

/** A child writing into FIFOs: reports 'close' once it has exited and every pipe is closed. */
class FifoChild extends EventEmitter implements ChildHandle {
  readonly pid: number | undefined;
  readonly pipes: readonly ChildPipe[];

  constructor(child: ChildProcess, streams: readonly OutputStream[], ends: readonly PipeEnds[], failure: (error: unknown) => SpawnError) {
    super();
    this.pid = child.pid;
    let waiting = 1 + ends.length; // the exit, and each pipe closed
    const settle = (): void => {
      if (--waiting === 0) this.emit('close');
    };
    const readers = ends.map((e) => new FifoPipe(e.read, settle));
    this.pipes = readers.map((pipe, i) => ({ stream: streams[i] as OutputStream, pipe }));
    child.on('error', (error) => {
      if (this.pid !== undefined) return this.emit('error', error);
      // A child that never started leaves pipes nobody will read.
      for (const pipe of readers) pipe.discard();
      this.emit('error', failure(error));
    });
    child.once('exit', (code, signal) => {
      this.emit('exit', code, signal);
      settle();
    });
  }
}

/**
 * The fallback: Node's pipes, read as streams. Node cannot give one pipe as two of a
 * child's descriptors, so for the merged stream a shell in front makes stderr a copy of
 * stdout and then becomes the program (same pid).
 */
function nodePiped(instance: Instance, streams: readonly OutputStream[], failure: (error: unknown, instance: Instance) => SpawnError): ChildHandle {
  let child: ChildProcess;
  try {
    child =
      streams.length === 1
        ? spawnDetached(instance, '/bin/sh', ['-c', 'exec 2>&1; exec "$@"', 'sh', instance.launch.file, ...instance.launch.args], ['ignore', 'pipe', 'ignore'])
        : spawnDetached(instance, instance.launch.file, instance.launch.args, ['ignore', 'pipe', 'pipe']);
  } catch (error) {
    throw failure(error, instance);
  }
  return new NodeChild(child, streams, (error) => failure(error, instance));
}

class NodeChild extends EventEmitter implements ChildHandle {
  readonly pid: number | undefined;
  readonly pipes: readonly ChildPipe[];

  constructor(child: ChildProcess, streams: readonly OutputStream[], failure: (error: unknown) => SpawnError) {
    super();
    this.pid = child.pid;
    const readable = [child.stdout, child.stderr];
    this.pipes = streams.flatMap((stream, i) => {
      const pipe = readable[i];
      return pipe === null || pipe === undefined ? [] : [{ stream, pipe: new StreamPipe(pipe) }];
    });
    child.on('error', (error) => this.emit('error', this.pid === undefined ? failure(error) : error));
    child.once('exit', (code, signal) => this.emit('exit', code, signal));
    child.once('close', () => this.emit('close'));
  }
}

interface DescriptorFacts {
  readonly instances: number;
  readonly needed: number;
  readonly limit: number | undefined;
}

/** What tf knows about a process that could not start, for the words that explain why. */
export interface StartFacts {
  /** The program, as the user named it. */
  readonly file: string;
  readonly cwd: string;
  /** For EMFILE and ENFILE: how many descriptors the instances need against the limit. */
  readonly descriptors?: () => DescriptorFacts;
}

export interface StartFailure {
  readonly message: string;
  readonly hint?: string;
}

/**
 * Why a process could not start, by errno, in tf's own words: Node's messages may quote what
 * they were given (arguments, environment), which can hold secrets. `tf start` and `tf run`
 * both explain a failed start with this.
 */
export function startFailure(code: string | undefined, facts: StartFacts): StartFailure {
  switch (code) {
    case 'EMFILE':
    case 'ENFILE': {
      const known = facts.descriptors?.();
      const want = known === undefined ? '' : `: ${known.instances} instance${known.instances === 1 ? '' : 's'} need about ${known.needed} descriptors`;
      if (code === 'ENFILE') return { message: `too many open files in the system (ENFILE)${want}`, hint: 'close other programs or run fewer' };
      const limit = known?.limit === undefined ? '' : `, the limit is ${known.limit} (ulimit -n)`;
      return { message: `too many open files (EMFILE)${want}${limit}`, hint: limit === '' ? 'raise ulimit -n or run fewer' : 'raise it or run fewer' };
    }
    case 'ENOENT':
      return existsSync(facts.cwd)
        ? { message: `command not found: ${facts.file}`, hint: 'check the spelling or your PATH' }
        : { message: `its working directory ${facts.cwd} does not exist (ENOENT)` };
    case 'EACCES':
      return { message: `permission denied (EACCES) running ${facts.file} in ${facts.cwd}`, hint: 'make it executable (chmod +x)' };
    case 'E2BIG':
      return { message: `could not run ${facts.file}: its arguments and environment are too large (E2BIG)` };
    case 'EAGAIN':
      return { message: 'the system refused a new process (EAGAIN): too many processes (ulimit -u) or too little memory' };
  }
  return { message: `could not run ${facts.file}${code === undefined ? '' : ` (${code})`}` };
}

/** One line: the failure and its fix. */
export const startFailureLine = ({ message, hint }: StartFailure): string => (hint === undefined ? message : `${message}; ${hint}`);

/** Why `instance` could not start, in words that name the fix and never a value of its environment. */
export function spawnError(error: unknown, instance: Instance, descriptors: () => DescriptorFacts): SpawnError {
  const errno = error as Partial<NodeJS.ErrnoException> | undefined;
  const code = error instanceof DescriptorsExhausted ? error.code : typeof errno?.code === 'string' ? errno.code : undefined;
  // The cause is kept only for errno errors: Node's argument checks quote what they were given.
  const keepCause = error instanceof DescriptorsExhausted || typeof errno?.syscall === 'string';
  const text = startFailureLine(startFailure(code, { file: instance.launch.file, cwd: instance.cwd, descriptors }));
  return new SpawnError(text, instance.name, code, keepCause ? error : undefined);
}
