import { fstatSync, writeSync } from 'node:fs';
import type { Writable } from 'node:stream';

export interface WriterHooks {
  /** The reader is slower than the children: stop reading from them. */
  onBlocked(): void;
  onDrained(): void;
  /** The reader went away (EPIPE): nothing more can be shown. */
  onClosed(): void;
}

/**
 * The one place that writes to stdout. Reports backpressure instead of buffering without
 * bound, and turns EPIPE (the reader went away) into a clean stop instead of a crash.
 */
export class Writer {
  private isBlocked = false;
  private isClosed = false;
  /** Set where stdout is a file or a device other than a terminal: see `fileDescriptor`. */
  private readonly fd: number | undefined;
  /** stdout is a terminal (Node set isTTY when it made the stream). */
  readonly terminal: boolean;

  constructor(
    private readonly stream: Writable,
    private readonly hooks: WriterHooks,
  ) {
    this.fd = fileDescriptor(stream);
    this.terminal = (stream as { isTTY?: boolean }).isTTY === true;
    stream.on('drain', () => {
      if (!this.isBlocked) return;
      this.isBlocked = false;
      hooks.onDrained();
    });
    stream.on('error', () => this.close());
  }

  get blocked(): boolean {
    return this.isBlocked;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  write(data: Buffer | string, done?: () => void): void {
    if (this.isClosed || data.length === 0) return done?.();
    if (this.fd !== undefined) return this.writeFile(this.fd, data, done);
    // write() says false for any chunk over the high-water mark, even one a file or a pipe
    // with room took whole at once; only bytes still waiting mean the reader is behind.
    if (!this.stream.write(data, done) && this.stream.writableLength > 0 && !this.isBlocked) {
      this.isBlocked = true;
      this.hooks.onBlocked();
    }
  }

  /**
   * Writes bytes the caller will overwrite afterwards, without copying them where the stream
   * takes them at once (a file, a terminal, a pipe with room). A stream that is still busy
   * would queue them as they are, so it gets a copy. Returns true when the stream kept them
   * anyway (part of a write left waiting for the reader): the caller must leave them be
   * until `released` is called.
   */
  writeBorrowed(data: Buffer, released: () => void): boolean {
    if (this.isClosed || data.length === 0) return false;
    if (this.fd !== undefined) {
      this.writeFile(this.fd, data);
      return false;
    }
    if (this.stream.writableLength > 0) {
      this.write(Buffer.from(data));
      return false;
    }
    let kept = false;
    this.write(data, () => kept && released());
    kept = this.stream.writableLength > 0;
    return kept;
  }

  /** Resolves once everything written has reached the OS (or the reader is gone). */
  flushed(): Promise<void> {
    if (this.isClosed || this.stream.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.stream.off('drain', done);
        this.stream.off('error', done);
        resolve();
      };
      this.stream.on('drain', done);
      this.stream.on('error', done);
    });
  }

  private writeFile(fd: number, data: Buffer | string, done?: () => void): void {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    try {
      for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
    } catch {
      // A full disk or an I/O error: like a reader gone, nothing more can be shown.
      this.close();
    }
    done?.();
  }

  private close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.hooks.onClosed();
  }
}

/**
 * The descriptor behind `stream` when it is one Node writes synchronously anyway (a regular
 * file, /dev/null: its SyncWriteStream): tf then calls writeSync itself. The result is the same,
 * minus the stream's per-write bookkeeping and the optimizing compiler's work on it, a
 * noticeable part of tf's CPU in a flood. Terminals and pipes keep the stream, whose queue
 * reports a slow reader.
 */
function fileDescriptor(stream: Writable): number | undefined {
  const { fd, isTTY } = stream as { fd?: unknown; isTTY?: boolean };
  if (typeof fd !== 'number') return undefined;
  try {
    const stat = fstatSync(fd);
    // Node made the stream, so it already knows a terminal: no need to load node:tty to ask again.
    return stat.isFile() || (stat.isCharacterDevice() && isTTY !== true) ? fd : undefined;
  } catch {
    return undefined;
  }
}
