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
 * bound, and turns EPIPE into a clean "output closed" instead of a crash.
 */
export class Writer {
  private isBlocked = false;
  private isClosed = false;

  constructor(
    private readonly stream: Writable,
    private readonly hooks: WriterHooks,
  ) {
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

  private close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.hooks.onClosed();
  }
}
