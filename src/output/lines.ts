/** One piece of output text, without its line terminator. */
export interface Piece {
  readonly bytes: Buffer;
  /** This piece continues a line whose start was already emitted (a long or idle-flushed line). */
  readonly continued: boolean;
  /**
   * A lone `\r` (a progress bar's redraw) came since the line's last piece: `bytes` is the
   * line's latest state, the text after that `\r`, and replaces what was shown of the line.
   */
  readonly redraw: boolean;
  /** Shown because the stream paused: the line goes on after it (a prompt, a progress bar). */
  readonly open: boolean;
}

/** Complete lines: `head` (bytes held from earlier chunks) then `body`, which ends in `\n`. */
export interface Block {
  readonly head: Buffer | undefined;
  readonly body: Buffer;
}

export const MAX_LINE_BYTES = 64 * 1024;

const LF = 0x0a;
const CR = 0x0d;

/**
 * A copy of the held bytes of a partial line: a view would keep the whole chunk it came from
 * alive (64 KiB for a 50-byte tail) until the line completes, long enough under a flood for
 * V8 to move it to the old generation, where it is freed only by a full collection.
 */
const keep = (bytes: Buffer): Buffer => {
  // allocUnsafe and set, not Buffer.from: under a flood this runs once per chunk, and from()'s
  // generic path is more code for V8 to optimize, for the same copy.
  const copy = Buffer.allocUnsafe(bytes.length);
  copy.set(bytes);
  return copy;
};

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
  /** A lone `\r` in the current line since its last piece: the pending bytes are its latest state. */
  private redrawn = false;

  constructor(private readonly maxLine = MAX_LINE_BYTES) {}

  get hasPending(): boolean {
    return this.pending !== undefined;
  }

  /** The pending partial line was redrawn (a progress bar): only its last state matters. */
  get redrawing(): boolean {
    return this.pending !== undefined && this.redrawn;
  }

  push(chunk: Buffer, out: Piece[]): void {
    let buf = chunk;
    if (this.pending !== undefined) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let start = 0;
    const length = buf.length;
    // The next \r at or after `start`, searched once per \r rather than once per line.
    let cr = buf.indexOf(CR);
    while (start < length) {
      const nl = buf.indexOf(LF, start);
      if (nl === -1) break;
      const end = nl > start && buf[nl - 1] === CR ? nl - 1 : nl;
      if (cr !== -1 && cr < start) cr = buf.indexOf(CR, start);
      // Only what follows the last lone \r is still on a terminal's line.
      while (cr !== -1 && cr < end) {
        start = cr + 1;
        this.redrawn = true;
        cr = buf.indexOf(CR, start);
      }
      if (nl - start > this.maxLine) {
        this.cut(buf, start, out);
        start += this.pieceEnd(buf, start);
        continue;
      }
      // An empty tail of an already emitted line just ends it; a real empty line is kept.
      if (!(this.started && end === start && !this.redrawn))
        out.push({ bytes: buf.subarray(start, end), continued: this.started, redraw: this.redrawn, open: false });
      this.started = false;
      this.redrawn = false;
      start = nl + 1;
    }
    start = this.latestState(buf, start);
    while (length - start > this.maxLine) {
      this.cut(buf, start, out);
      start += this.pieceEnd(buf, start);
    }
    if (start < length) this.pending = keep(buf.subarray(start));
  }

  /**
   * The fast path, for a chunk as a whole: its complete lines come back as one block, for
   * the formatter to prefix in bulk instead of line by line, without copying the chunk.
   * Returns undefined, having pushed pieces to `out`, when the chunk needs per-line care: it
   * continues a line already shown, completes no line, or may hold a line over the limit.
   */
  pushBlock(chunk: Buffer, out: Piece[]): Block | undefined {
    const last = this.started ? -1 : chunk.lastIndexOf(LF);
    const head = this.pending;
    if (last === -1 || this.mayRedraw(head, chunk, last) || this.mayHoldLongLine(head === undefined ? 0 : head.length, chunk, last)) {
      this.push(chunk, out);
      return undefined;
    }
    const rest = this.latestState(chunk, last + 1);
    this.pending = rest < chunk.length ? keep(chunk.subarray(rest)) : undefined;
    return { head, body: chunk.subarray(0, last + 1) };
  }

  /**
   * Where the partial line at `start` (no \n follows) is to be kept from: a partial line keeps
   * only its latest state, so a progress bar never grows the buffer. Its last byte may be the
   * first half of a \r\n: that \r waits for the next chunk.
   */
  private latestState(buf: Buffer, start: number): number {
    const lone = buf.length - start > 1 ? buf.subarray(start, buf.length - 1).lastIndexOf(CR) : -1;
    if (lone === -1) return start;
    this.redrawn = true;
    return start + lone + 1;
  }

  /** A lone \r among the complete lines (or ending the held bytes) needs the per-line path. */
  private mayRedraw(head: Buffer | undefined, chunk: Buffer, last: number): boolean {
    if (this.redrawn || (head !== undefined && head[head.length - 1] === CR && chunk[0] !== LF)) return true;
    for (let cr = chunk.indexOf(CR); cr !== -1 && cr < last; cr = chunk.indexOf(CR, cr + 1)) {
      if (chunk[cr + 1] !== LF) return true;
    }
    return false;
  }

  /**
   * The first line also holds the pending bytes. After it, a line longer than the limit
   * spans a whole aligned half-limit window without a newline, so checking a few windows
   * (not every line) is enough; false alarms take the slow path.
   */
  private mayHoldLongLine(headLength: number, chunk: Buffer, last: number): boolean {
    const first = chunk.indexOf(LF);
    if (headLength + first > this.maxLine) return true;
    if (last - first <= this.maxLine) return false;
    const half = this.maxLine >> 1;
    for (let from = first + 1; from + half <= last; from += half) {
      const nl = chunk.indexOf(LF, from);
      if (nl === -1 || nl >= from + half) return true;
    }
    return false;
  }

  /**
   * Emits the incomplete line (after an idle pause, or at EOF with `final`). Holds back an
   * unfinished UTF-8 character unless final, so a character is never split across pieces.
   */
  flush(out: Piece[], final = false): void {
    const pending = this.pending;
    this.pending = undefined;
    if (pending === undefined) {
      if (final) this.started = this.redrawn = false;
      return;
    }
    let end = pending.length;
    if (!final) end -= incompleteUtf8Tail(pending, end);
    let textEnd = end;
    // A trailing `\r` is half of a `\r\n` or a redraw: not text either way.
    if (textEnd > 0 && pending[textEnd - 1] === CR && end === pending.length) textEnd -= 1;
    if (end > 0 || this.redrawn) {
      out.push({ bytes: pending.subarray(0, textEnd), continued: this.started, redraw: this.redrawn, open: !final });
      this.started = !final;
      this.redrawn = false;
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
    out.push({ bytes: buf.subarray(start, start + size), continued: this.started, redraw: this.redrawn, open: false });
    this.started = true;
    this.redrawn = false;
  }
}
