import type { Instance, OutputStream } from '../domain.js';
import type { Block, Piece } from './lines.js';
import type { Notice } from './notices.js';

/** Turns pieces of output and notices into the bytes written to stdout. */
export interface Format {
  /**
   * All pieces of one chunk at once, so the writer gets one buffer per chunk, not per line.
   * `terminal`: stdout is a terminal, where a partial line can stay open and be redrawn.
   */
  lines(instance: Instance, stream: OutputStream, pieces: readonly Piece[], terminal: boolean): Buffer | string;
  notice(notice: Notice): Buffer | string;
  /**
   * Optional fast path: a chunk's complete lines at once (see LineSplitter.pushBlock). The
   * format may hold them back in a batch to write many blocks at once, through `write` with
   * bytes it reuses afterwards; `flush` writes the batch. Formats without it get pieces.
   */
  block?(instance: Instance, stream: OutputStream, lines: Block, write: BorrowedWrite): void;
  flush?(write: BorrowedWrite): void;
}

/**
 * Writes bytes the caller will reuse; true when the stream kept them: they must stay as they
 * are until `released` is called.
 */
export type BorrowedWrite = (bytes: Buffer, released: () => void) => boolean;
