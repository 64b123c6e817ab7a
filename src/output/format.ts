import type { Instance, OutputStream } from '../domain.js';
import type { Piece } from './lines.js';
import type { Notice } from './notices.js';

/** Turns pieces of output and notices into the bytes written to stdout. */
export interface Format {
  /** All pieces of one chunk at once, so the writer gets one buffer per chunk, not per line. */
  lines(instance: Instance, stream: OutputStream, pieces: readonly Piece[]): Buffer | string;
  notice(notice: Notice): Buffer | string;
  /**
   * Optional fast path: complete lines as one latin1 string, each ending in `\n`
   * (see LineSplitter.pushBlock). Formats without it get pieces.
   */
  block?(instance: Instance, stream: OutputStream, lines: string): Buffer;
}
