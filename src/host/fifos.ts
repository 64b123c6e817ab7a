import { spawn, spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants, fstatSync, lstatSync, mkdtempSync, openSync, rmdirSync, rmSync, unlinkSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { trustedRuntimeDir } from './runtime-dir.js';
import { toolEnv } from './tool-env.js';

/** A pair of file descriptors on one FIFO: the child gets `write` as its output, tf reads `read`. */
export interface PipeEnds {
  readonly read: number;
  readonly write: number;
}

/** The descriptor table is full (EMFILE for tf, ENFILE for the whole system): no fallback helps. */
export class DescriptorsExhausted extends Error {
  constructor(
    readonly code: 'EMFILE' | 'ENFILE',
    cause: unknown,
  ) {
    super(`${code}: too many open files`, { cause });
    this.name = 'DescriptorsExhausted';
  }
}

const isErrno = (error: unknown, ...codes: string[]): error is NodeJS.ErrnoException =>
  error instanceof Error && codes.includes((error as NodeJS.ErrnoException).code ?? '');

/**
 * Makes FIFOs in batches: one `mkfifo` run for a batch (Node has no call for a pipe or a
 * FIFO), both ends opened at once and the names unlinked, so nothing stays on disk. The read
 * end is non-blocking (Node polls it); the write end is blocking, as a child expects its
 * stdout to be. Node opens files close-on-exec, so no child inherits another's ends.
 *
 * The names live for a moment in a directory only tf's user can enter (made by mkdtemp and
 * checked), and are opened without following a symlink and checked to be that FIFO, so no
 * other user can swap in a file of theirs.
 */
export class FifoMaker {
  private spare: PipeEnds[] = [];
  /** The first batch, being made by prepare(). */
  private prepared: PreparedBatch | undefined;
  /** Why FIFOs cannot be made here, once that is known: then none is tried again. */
  private whyNot: string | undefined;

  constructor(
    private batch: number,
    /** Makes the FIFOs; says why not when it cannot. */
    private readonly mkfifo: (paths: readonly string[]) => string | undefined = runMkfifo,
    /** Where the private directory for the names is made. */
    private readonly home: () => string = fifoHome,
    /**
     * Told each private directory as soon as it is made, before mkfifo puts names in it: the
     * watchdog removes it if tf dies before the names are opened and unlinked.
     */
    private readonly onDirectory: (path: string, inode: number) => void = () => {},
  ) {}

  get failure(): string | undefined {
    return this.whyNot;
  }

  /**
   * A FIFO, or undefined where none can be made (no mkfifo, no usable directory): use Node's
   * pipes. Throws DescriptorsExhausted when tf is out of descriptors, which Node's pipes need too.
   */
  take(): PipeEnds | undefined {
    if (this.spare.length === 0 && this.whyNot === undefined) this.make(Math.max(1, this.batch));
    return this.spare.pop();
  }

  /**
   * Runs mkfifo for the first batch now, without waiting for it: tf does its other start-up
   * work meanwhile, and the first take() then opens what it made. Only names are made here,
   * no descriptor is opened (the spawner counts tf's own descriptors before it takes any).
   */
  prepare(mkfifo: (paths: readonly string[]) => Promise<string | undefined> = runMkfifoAsync): Promise<void> {
    if (this.prepared !== undefined || this.whyNot !== undefined || this.spare.length > 0) return this.prepared?.done ?? Promise.resolve();
    let names: { dir: string; inode: number; paths: string[] } | undefined;
    try {
      names = this.names(Math.max(1, this.batch));
    } catch {
      // Tried again, the same way, by take().
      return Promise.resolve();
    }
    const batch: PreparedBatch = { ...names, settled: false, failed: undefined, done: Promise.resolve() };
    batch.done = mkfifo(names.paths).then(
      (failed) => {
        batch.settled = true;
        batch.failed = failed;
      },
      (error: unknown) => {
        batch.settled = true;
        batch.failed = error instanceof Error ? error : new Error(String(error));
      },
    );
    this.prepared = batch;
    return batch.done;
  }

  /**
   * Removes the names of a prepared batch nobody took (tf stopped before starting anything).
   * Waits for mkfifo, so that it makes nothing after the directory is gone.
   */
  async discard(): Promise<void> {
    const batch = this.prepared;
    if (batch === undefined) return;
    await batch.done;
    if (this.prepared !== batch) return;
    this.prepared = undefined;
    rmSync(batch.dir, { recursive: true, force: true });
  }

  /** A private directory and `count` names in it, made by nobody yet. */
  private names(count: number): { dir: string; inode: number; paths: string[] } {
    const dir = mkdtempSync(path.join(this.home(), 'tf-pipes-'));
    let inode: number;
    try {
      inode = checkPrivateDir(dir);
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    this.onDirectory(dir, inode);
    return { dir, inode, paths: Array.from({ length: count }, (_, i) => path.join(dir, String(i))) };
  }

  private make(count: number): void {
    let dir: string | undefined;
    const made: PipeEnds[] = [];
    try {
      // A prepared batch whose mkfifo has finished is used, or its failure; one still running
      // is left to finish and its names removed (take() cannot wait), and this batch made the
      // usual way.
      const batch = this.prepared;
      this.prepared = undefined;
      let paths: string[];
      if (batch?.settled === true && batch.failed !== undefined) {
        dir = batch.dir;
        throw batch.failed instanceof Error ? batch.failed : new Error(batch.failed);
      }
      if (batch?.settled === true) {
        dir = batch.dir;
        paths = batch.paths.slice(0, count);
        for (const extra of batch.paths.slice(count)) unlinkSync(extra);
      } else {
        if (batch !== undefined) void batch.done.then(() => rmSync(batch.dir, { recursive: true, force: true }));
        ({ dir, paths } = this.names(count));
        const failed = this.mkfifo(paths);
        if (failed !== undefined) throw new Error(failed);
      }
      for (const fifo of paths) {
        made.push(openFifo(fifo));
        unlinkSync(fifo);
      }
      // Popped from the end: reversed, instances get them in order (easier to trace).
      this.spare = made.reverse();
      // Later batches (restarts) come one at a time.
      this.batch = 1;
      // Every name is unlinked, so the directory is empty and a plain rmdir is all it takes; the
      // recursive removal below is for the failure path, where names may remain.
      rmdirSync(dir);
    } catch (error) {
      for (const ends of made) closeQuietly(ends);
      this.spare = [];
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
      if (error instanceof DescriptorsExhausted) throw error;
      if (isErrno(error, 'EMFILE', 'ENFILE')) throw new DescriptorsExhausted(error.code as 'EMFILE' | 'ENFILE', error);
      this.whyNot = error instanceof Error ? error.message : String(error);
    }
  }
}

/** Names for a first batch, and the mkfifo run making them (see FifoMaker.prepare). */
interface PreparedBatch {
  readonly dir: string;
  readonly inode: number;
  readonly paths: string[];
  /** mkfifo has exited; `failed` then says why it made nothing, if it did not. */
  settled: boolean;
  failed: string | Error | undefined;
  done: Promise<void>;
}

/** Both ends of the FIFO at `fifo`, refusing a symlink or anything that is not that FIFO. */
function openFifo(fifo: string): PipeEnds {
  const read = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  let write: number | undefined;
  try {
    const stat = fstatSync(read);
    if (!stat.isFIFO()) throw new Error(`${fifo} is not a FIFO`);
    write = openSync(fifo, constants.O_WRONLY | constants.O_NOFOLLOW);
    const other = fstatSync(write);
    if (other.ino !== stat.ino || other.dev !== stat.dev) throw new Error(`${fifo} changed while it was opened`);
    return { read, write };
  } catch (error) {
    closeSync(read);
    if (write !== undefined) closeSync(write);
    throw error;
  }
}

/** mkdtemp makes its directory 0700; a directory that is not tf's own private one is refused. */
/** Throws unless `dir` is a private directory of this user; returns its inode. */
function checkPrivateDir(dir: string): number {
  const stat = lstatSync(dir);
  if (!isPrivateDir(stat, 0o077)) throw new Error(`${dir} is not a private directory of this user`);
  return stat.ino;
}

const uid = (): number | undefined => process.getuid?.();

/** A real directory (not a symlink), owned by this user, with none of `forbidden`'s mode bits. */
function isPrivateDir(stat: Stats, forbidden: number): boolean {
  const me = uid();
  return stat.isDirectory() && (me === undefined || stat.uid === me) && (stat.mode & forbidden) === 0;
}

function lstatOrUndefined(dir: string): Stats | undefined {
  try {
    return lstatSync(dir);
  } catch {
    return undefined;
  }
}

/**
 * Where the FIFOs are made (for the moment before they are unlinked): a memory file system
 * where there is one, since making a name on a disk file system costs inode and journal work.
 * XDG_RUNTIME_DIR is the user's own tmpfs, but only trusted as the XDG spec defines it: a
 * directory owned by the user with mode 0700 (a variable can point anywhere). /dev/shm must
 * be a real directory; like the temp dir it is shared, which the private mkdtemp directory
 * inside it makes safe.
 */
export function fifoHome(env: NodeJS.ProcessEnv = process.env): string {
  const runtime = trustedRuntimeDir(env);
  if (runtime !== undefined && writable(runtime)) return runtime;
  if (lstatOrUndefined('/dev/shm')?.isDirectory() === true && writable('/dev/shm')) return '/dev/shm';
  return tmpdir();
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** runMkfifo without blocking tf while mkfifo runs. */
export function runMkfifoAsync(paths: readonly string[]): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const child = spawn('mkfifo', ['-m', '600', ...paths], { stdio: 'ignore', env: toolEnv({ LC_ALL: 'C' }) });
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') resolve('mkfifo is not on PATH');
      else if (error.code === 'EMFILE' || error.code === 'ENFILE') reject(new DescriptorsExhausted(error.code, error));
      else resolve(`mkfifo failed in ${path.dirname(paths[0] ?? '')}`);
    });
    child.once('exit', (code) => resolve(code === 0 ? undefined : `mkfifo failed in ${path.dirname(paths[0] ?? '')}`));
  });
}

/** One `mkfifo` run for all `paths`: undefined when it made them, else why not. */
export function runMkfifo(paths: readonly string[]): string | undefined {
  // Its messages are not shown, so it needs no locale: the C locale spares it loading the
  // user's locale data first.
  const result = spawnSync('mkfifo', ['-m', '600', ...paths], { stdio: 'ignore', env: toolEnv({ LC_ALL: 'C' }) });
  if (result.status === 0) return undefined;
  const code = (result.error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'mkfifo is not on PATH';
  if (code === 'EMFILE' || code === 'ENFILE') throw new DescriptorsExhausted(code, result.error);
  return `mkfifo failed in ${path.dirname(paths[0] ?? '')}`;
}

export function closeQuietly(ends: PipeEnds): void {
  for (const fd of [ends.read, ends.write]) {
    try {
      closeSync(fd);
    } catch {
      // Already closed.
    }
  }
}
