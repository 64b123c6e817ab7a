import type { BorrowedWrite } from './format.js';
import { PREFIX_WASM } from './prefix-wasm.js';

interface PrefixExports {
  readonly memory: WebAssembly.Memory;
  readonly next: WebAssembly.Global;
  fmt(from: number, end: number, prefixAt: number, prefixLength: number, out: number, limit: number): number;
}

/**
 * Output is gathered into one of two staging areas and written when one fills or when
 * `flush` is called (once per turn of the event loop): one write of up to this many bytes
 * instead of one per chunk read. A write costs the kernel ~4.5 µs whatever its size, and a
 * flood arrives in reads of 4-64 KiB.
 */
export const STAGE_BYTES = 256 * 1024;
/** fmt's 16-byte stores run up to 15 bytes past what they copy. */
const SLACK = 64;
const STAGE_AREA = STAGE_BYTES + SLACK;
/** The prefix and the lines of one call go after both staging areas. */
const INPUT_AT = 2 * STAGE_AREA;
const PAGE = 64 * 1024;
const NEWLINE = 0x0a;
const align8 = (n: number): number => (n + 7) & ~7;

let compiled: WebAssembly.Module | undefined;

/**
 * Prefixes every line of a block of complete lines (prefix.wat does the work). One instance
 * and its memory serve every block: no per-line or per-chunk garbage.
 */
export class LinePrefixer {
  private exports: PrefixExports | undefined;
  private memory = new Uint8Array(0);
  /** The staging area in use (0 or 1) and how much of it is filled. */
  private stage = 0;
  private staged = 0;
  /** A stream still holds a staging area's bytes (a write it queued): it is not reused. */
  private readonly lent = [false, false];

  /**
   * Stages `head` (the start of the first line, left over from the previous chunk) and
   * `body` (ending in \n) with `prefix` before each line, \r\n as \n, and a colour reset after
   * any line holding an escape code. What fills a staging area is written through `write`;
   * the rest waits for `flush`. Every line must fit in a staging area with its prefix (the
   * line splitter cuts lines at 64 KiB).
   */
  prefix(prefix: Buffer, head: Buffer | undefined, body: Buffer, write: BorrowedWrite): void {
    const input = (head === undefined ? 0 : head.length) + body.length;
    const from = INPUT_AT + align8(prefix.length) + 8;
    const end = from + input;
    const wasm = this.room(end + 32, write);
    const memory = this.memory;
    memory.set(prefix, INPUT_AT);
    if (head !== undefined) memory.set(head, from);
    memory.set(body, end - body.length);
    for (let at = from; at < end; ) {
      const out = this.stage * STAGE_AREA + this.staged;
      const limit = this.stage * STAGE_AREA + STAGE_BYTES;
      // fmt takes a line only while the whole rest of its input, grown by the prefixes, would
      // still fit: it gets at most half the room, cut at a line end.
      const take = (limit - out - prefix.length - 16) >> 1;
      const stop = end - at <= take ? end : take > 0 ? memory.lastIndexOf(NEWLINE, at + take - 1) + 1 : 0;
      if (stop > at) {
        this.staged += wasm.fmt(at, stop, INPUT_AT, prefix.length, out, limit);
        at = wasm.next.value as number;
        if (at === end) break;
        if (STAGE_BYTES - this.staged > STAGE_BYTES >> 3) continue;
      }
      if (this.staged === 0) throw new Error(`a line longer than ${take} bytes reached the prefixer`);
      this.flush(write);
      // The stream kept both areas (a slow reader): the rest goes to a fresh instance.
      if (this.lent[this.stage] === true) return this.prefix(prefix, undefined, Buffer.from(memory.subarray(at, end)), write);
    }
  }

  /**
   * Writes what is staged, as a view of the module's memory. A stream that keeps the view
   * (a slow reader) has that area until it calls back; staging goes on in the other one.
   */
  flush(write: BorrowedWrite): void {
    if (this.staged === 0) return;
    const stage = this.stage;
    const wasm = this.exports;
    const bytes = Buffer.from(this.memory.buffer, stage * STAGE_AREA, this.staged);
    this.staged = 0;
    if (!write(bytes, () => this.exports === wasm && (this.lent[stage] = false))) return;
    this.lent[stage] = true;
    this.stage = 1 - stage;
  }

  /**
   * An instance whose memory holds `bytes` and whose staging area in use is free. Growing
   * memory detaches every view of it, and a stream may hold both areas: either way the
   * memory is left to the stream, and a fresh instance takes over.
   */
  private room(bytes: number, write: BorrowedWrite): PrefixExports {
    let wasm = this.instance();
    const held = this.lent[0] === true || this.lent[1] === true;
    if (this.lent[this.stage] === true || (held && this.memory.length < bytes)) {
      this.flush(write);
      this.exports = undefined;
      this.lent.fill(false);
      this.stage = 0;
      wasm = this.instance();
    }
    if (this.memory.length < bytes) {
      wasm.memory.grow(Math.ceil((bytes - this.memory.length) / PAGE));
      this.memory = new Uint8Array(wasm.memory.buffer);
    }
    return wasm;
  }

  private instance(): PrefixExports {
    if (this.exports !== undefined) return this.exports;
    compiled ??= new WebAssembly.Module(Buffer.from(PREFIX_WASM, 'base64'));
    const wasm = new WebAssembly.Instance(compiled).exports as unknown as PrefixExports;
    // Both staging areas and room for a 64 KiB read with a held line: it never grows in use.
    const want = INPUT_AT + 2 * 64 * 1024 + PAGE;
    wasm.memory.grow(Math.ceil((want - wasm.memory.buffer.byteLength) / PAGE));
    this.exports = wasm;
    this.memory = new Uint8Array(wasm.memory.buffer);
    return wasm;
  }
}
