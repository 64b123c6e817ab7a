/** One piece of output text, without its line terminator. */
export interface Piece {
  readonly bytes: Buffer;
  /** This piece continues a line whose start was already emitted (a long or idle-flushed line). */
  readonly continued: boolean;
}

export const MAX_LINE_BYTES = 64 * 1024;

const LF = 0x0a;
const CR = 0x0d;

/** Bytes at the end of `buf` that start a UTF-8 sequence the buffer does not finish. */
function incompleteUtf8Tail(buf: Buffer, end: number): number {
  for (let back = 1; back <= 3 && back <= end; back++) {
    const byte = buf[end - back] as number;
    if ((byte & 0xc0) === 0x80) continue; // continuation byte: keep looking for the lead
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

/**
 * Splits one stream's bytes into lines. Works on bytes, so invalid UTF-8 passes through
 * untouched and chunk boundaries (inside a line, a `\r\n` or a character) never tear a line.
 * A line longer than `maxLine` is cut into pieces, never buffered without bound.
 */
export class LineSplitter {
  private pending: Buffer | undefined;
  /** The current line already had a piece emitted. */
  private started = false;

  constructor(private readonly maxLine = MAX_LINE_BYTES) {}

  get hasPending(): boolean {
    return this.pending !== undefined;
  }

  push(chunk: Buffer, out: Piece[]): void {
    let buf = chunk;
    if (this.pending !== undefined) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let start = 0;
    const length = buf.length;
    while (start < length) {
      const nl = buf.indexOf(LF, start);
      if (nl === -1) break;
      if (nl - start > this.maxLine) {
        this.cut(buf, start, out);
        start += this.pieceEnd(buf, start);
        continue;
      }
      const end = nl > start && buf[nl - 1] === CR ? nl - 1 : nl;
      // An empty tail of an already emitted line just ends it; a real empty line is kept.
      if (!(this.started && end === start)) out.push({ bytes: buf.subarray(start, end), continued: this.started });
      this.started = false;
      start = nl + 1;
    }
    while (length - start > this.maxLine) {
      this.cut(buf, start, out);
      start += this.pieceEnd(buf, start);
    }
    if (start < length) this.pending = buf.subarray(start);
  }

  /**
   * Emits the incomplete line (after an idle pause, or at EOF with `final`). Holds back an
   * unfinished UTF-8 character unless final, so a character is never split across pieces.
   */
  flush(out: Piece[], final = false): void {
    const pending = this.pending;
    this.pending = undefined;
    if (pending === undefined) {
      if (final) this.started = false;
      return;
    }
    let end = pending.length;
    if (!final) end -= incompleteUtf8Tail(pending, end);
    let textEnd = end;
    // A trailing `\r` is half of a `\r\n` or a redraw: not text either way.
    if (textEnd > 0 && pending[textEnd - 1] === CR && end === pending.length) textEnd -= 1;
    if (end > 0) {
      out.push({ bytes: pending.subarray(0, textEnd), continued: this.started });
      this.started = !final;
    }
    if (end < pending.length) this.pending = pending.subarray(end);
  }

  /** Length of the next piece of an over-long line, ending on a character boundary. */
  private pieceEnd(buf: Buffer, start: number): number {
    let cut = this.maxLine;
    while (cut > this.maxLine - 3 && ((buf[start + cut] as number) & 0xc0) === 0x80) cut--;
    return cut;
  }

  private cut(buf: Buffer, start: number, out: Piece[]): void {
    const size = this.pieceEnd(buf, start);
    out.push({ bytes: buf.subarray(start, start + size), continued: this.started });
    this.started = true;
  }
}
