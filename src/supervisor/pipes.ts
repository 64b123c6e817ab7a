import { closeSync } from 'node:fs';
import { Socket, type SocketConstructorOpts } from 'node:net';
import type { Readable } from 'node:stream';

/**
 * Takes what a child writes. `chunk` gets a view of a buffer that is reused for the next
 * read: it is valid only during the call, so anything kept must be copied.
 */
export interface PipeReader {
  chunk(bytes: Buffer): void;
  end(): void;
}

/** The read end of a child's output pipe, as the supervisor uses it. */
export interface OutputPipe {
  /** Starts handing what arrives to `reader`; called once. */
  read(reader: PipeReader): void;
  /** Backpressure: stops reading, so a full pipe blocks the child instead of filling memory. */
  pause(): void;
  resume(): void;
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
 * Under a flood that default spends much of tf's CPU on allocation and leaves a pile of
 * dead buffers for V8 to collect late (docs/performance.md has the numbers). A
 * child_process 'pipe' cannot take `onread`.
 */
export class FifoPipe implements OutputPipe {
  private socket: Socket | undefined;
  private paused = false;
  /** Its descriptor is closed: by the socket, after EOF or an error, or by `discard`. */
  private closed = false;

  constructor(
    readonly fd: number,
    private readonly onClose: () => void,
  ) {}

  read(reader: PipeReader): void {
    readBuffer ??= Buffer.allocUnsafe(READ_BUFFER_BYTES);
    const options: SocketConstructorOpts & { onread: OnRead } = {
      fd: this.fd,
      readable: true,
      writable: false,
      onread: {
        buffer: readBuffer,
        callback: (n, buffer) => {
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
