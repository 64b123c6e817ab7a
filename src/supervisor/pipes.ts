import { spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants, mkdtempSync, openSync, rmdirSync, rmSync, unlinkSync } from 'node:fs';
import { Socket, type SocketConstructorOpts } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { GrowablePipe, PipeCapacity } from '../host/pipe-capacity.js';
import { toolEnv } from '../host/tool-env.js';

/**
 * Takes what a child writes. `chunk` gets a view of a buffer that is reused for the next
 * read: it is valid only during the call, so anything kept must be copied.
 */
export interface PipeReader {
  chunk(bytes: Buffer): void;
  end(): void;
}

/** The read end of a child's stdout or stderr, as the supervisor uses it. */
export interface OutputPipe {
  /** Starts handing what arrives to `reader`; called once. */
  read(reader: PipeReader): void;
  /** Backpressure: stops reading, so a full pipe blocks the child instead of filling memory. */
  pause(): void;
  resume(): void;
}

/** A pair of file descriptors: the child gets `write` as its stdout or stderr, tf reads `read`. */
export interface PipeEnds {
  readonly read: number;
  readonly write: number;
}

/** `new net.Socket`'s `onread` option (Node >= 12.1; missing from the constructor's types here). */
interface OnRead {
  readonly buffer: Uint8Array;
  callback(bytes: number, buffer: Uint8Array): boolean | undefined;
}

const READ_BUFFER_BYTES = 64 * 1024;
let readBuffer: Buffer | undefined;

/**
 * A named pipe (FIFO) read with `net.Socket`'s `onread` option: every read lands in one
 * buffer shared by all pipes (each read is handled before the next can start), instead of
 * Node's default of a fresh 64 KiB buffer per read pushed through a Readable stream.
 * Under a flood that default costs a third of a bare Node pump's CPU and leaves tens of MB
 * of dead buffers for V8 to collect late. A child_process 'pipe' cannot take `onread`.
 */
export class FifoPipe implements OutputPipe, GrowablePipe {
  private socket: Socket | undefined;
  private paused = false;
  /** Its descriptor is closed: by the socket, after EOF or an error, or by `discard`. */
  private closed = false;
  private growing = false;

  constructor(
    readonly fd: number,
    private readonly onClose: () => void,
    /** Where a pipe that comes back full asks for a bigger buffer. */
    private readonly capacity?: PipeCapacity,
  ) {}

  get open(): boolean {
    return !this.closed;
  }

  read(reader: PipeReader): void {
    readBuffer ??= Buffer.allocUnsafe(READ_BUFFER_BYTES);
    const options: SocketConstructorOpts & { onread: OnRead } = {
      fd: this.fd,
      readable: true,
      writable: false,
      onread: {
        buffer: readBuffer,
        callback: (n, buffer) => {
          // A read that fills the buffer emptied a full pipe: the child was (or soon is) blocked on us.
          if (n === READ_BUFFER_BYTES && !this.growing) this.grow();
          reader.chunk((buffer as Buffer).subarray(0, n));
          return undefined;
        },
      },
    };
    const socket = new Socket(options);
    this.socket = socket;
    socket.once('end', () => reader.end());
    socket.once('close', () => {
      this.closed = true;
      this.onClose();
    });
    socket.on('error', () => {
      // A read error ends the pipe as EOF does; 'close' follows.
    });
    if (this.paused) socket.pause();
  }

  pause(): void {
    this.paused = true;
    this.socket?.pause();
  }

  resume(): void {
    this.paused = false;
    this.socket?.resume();
  }

  private grow(): void {
    this.growing = true;
    this.capacity?.grow(this);
  }

  /** A pipe nobody will read (its child did not start): closes the descriptor. */
  discard(): void {
    if (this.socket !== undefined || this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    this.onClose();
  }
}

/** Node's own pipe (a socket pair from child_process), read as a stream: the fallback. */
export class StreamPipe implements OutputPipe {
  constructor(private readonly stream: Readable) {}

  read(reader: PipeReader): void {
    this.stream.on('data', (chunk: Buffer) => reader.chunk(chunk));
    this.stream.once('end', () => reader.end());
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }
}

/**
 * Makes FIFOs in batches: one `mkfifo` run for a batch (Node has no call for a pipe or a
 * FIFO), both ends opened at once and the names unlinked, so nothing stays on disk. The read
 * end is non-blocking (Node polls it); the write end is blocking, as a child expects its
 * stdout to be. Node opens files close-on-exec, so no child inherits another's ends.
 */
export class FifoMaker {
  private spare: PipeEnds[] = [];
  /** Why FIFOs cannot be made here, once that is known: then none is tried again. */
  private whyNot: string | undefined;

  constructor(
    private batch: number,
    /** Makes the FIFOs; says why not when it cannot. */
    private readonly mkfifo: (paths: readonly string[]) => string | undefined = runMkfifo,
  ) {}

  get failure(): string | undefined {
    return this.whyNot;
  }

  /** A FIFO, or undefined where none can be made (no mkfifo, no writable directory): use Node's pipes. */
  take(): PipeEnds | undefined {
    if (this.spare.length === 0 && this.whyNot === undefined) this.make(Math.max(1, this.batch));
    return this.spare.pop();
  }

  private make(count: number): void {
    let dir: string | undefined;
    const made: PipeEnds[] = [];
    try {
      dir = mkdtempSync(path.join(fifoHome(), 'tf-pipes-'));
      const paths = Array.from({ length: count }, (_, i) => path.join(dir as string, String(i)));
      const failed = this.mkfifo(paths);
      if (failed !== undefined) throw new Error(failed);
      for (const fifo of paths) {
        const read = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
        try {
          made.push({ read, write: openSync(fifo, constants.O_WRONLY) });
        } catch (error) {
          closeSync(read);
          throw error;
        }
        unlinkSync(fifo);
      }
      // Popped from the end: reversed, instances get them in order (easier to trace).
      this.spare = made.reverse();
      // Later batches (restarts) come one at a time.
      this.batch = 1;
      // Every name is unlinked: the directory is empty (rmSync would load more of Node's fs).
      rmdirSync(dir);
    } catch (error) {
      this.whyNot = error instanceof Error ? error.message : String(error);
      for (const ends of made) closeQuietly(ends);
      this.spare = [];
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    }
  }
}

/**
 * Where the FIFOs are made (for the moment before they are unlinked): a memory file system
 * where there is one. Making 100 FIFOs takes ~12 ms on this machine's ext4 /tmp (inode and
 * journal work for each name), ~3 ms on tmpfs.
 */
function fifoHome(): string {
  const runtime = process.env.XDG_RUNTIME_DIR;
  for (const dir of [runtime, '/dev/shm']) {
    if (dir !== undefined && dir !== '' && writable(dir)) return dir;
  }
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

/** One `mkfifo` run for all `paths`: undefined when it made them, else why not. */
export function runMkfifo(paths: readonly string[]): string | undefined {
  // Its messages are not shown, so it needs no locale: under a UTF-8 LANG, mkfifo maps a
  // dozen locale files before doing anything, about a third of its run.
  const result = spawnSync('mkfifo', ['-m', '600', ...paths], { stdio: 'ignore', env: toolEnv({ LC_ALL: 'C' }) });
  if (result.status === 0) return undefined;
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return 'mkfifo is not on PATH';
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
