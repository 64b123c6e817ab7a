import type { BorrowedWrite } from './format.js';
import { PREFIX_WASM } from './prefix-wasm.js';

interface PrefixExports {
  readonly memory: WebAssembly.Memory;
  readonly next: WebAssembly.Global;
  fmt(from: number, end: number, prefixAt: number, prefixLength: number, out: number, limit: number): number;
}

/** Output room per call beyond the input's own size; a call that needs more comes back for it. */
const OUTPUT_ROOM = 256 * 1024;
const PAGE = 64 * 1024;
const align8 = (n: number): number => (n + 7) & ~7;

let compiled: WebAssembly.Module | undefined;

/**
 * Prefixes every line of a block of complete lines (prefix.wat does the work). One instance
 * and its memory serve every block: no per-line or per-chunk garbage.
 */
export class LinePrefixer {
  private exports: PrefixExports | undefined;
  private memory = new Uint8Array(0);
  /** End of the bytes a stream still holds (a write it queued), or 0: nothing is lent. */
  private lentEnd = 0;

  /**
   * `head` (the start of the first line, left over from the previous chunk) and `body` (ending
   * in \n) are the lines; hands them to `write` with `prefix` before each, \r\n as \n, and a
   * colour reset after any line holding an escape code. `write` gets a view of the module's
   * memory, not a copy; when it keeps the view (a stream that queued it) that memory is left
   * alone until released, and meanwhile blocks are laid out after it and written as copies.
   */
  prefix(prefix: Buffer, head: Buffer | undefined, body: Buffer, write: BorrowedWrite): void {
    const input = (head === undefined ? 0 : head.length) + body.length;
    let layout = this.layout(align8(this.lentEnd), prefix.length, input);
    if (this.lentEnd > 0 && this.memory.length < layout.limit + 8) {
      // Growing would detach the view the stream holds: that memory stays with it, and a
      // fresh instance takes over.
      this.exports = undefined;
      this.lentEnd = 0;
      layout = this.layout(0, prefix.length, input);
    }
    const wasm = this.instance();
    const { base, from, end, out, limit } = layout;
    this.reserve(wasm, limit + 8);
    const memory = this.memory;
    memory.set(prefix, base);
    if (head !== undefined) memory.set(head, from);
    memory.set(body, end - body.length);
    for (let at = from; at < end; ) {
      const written = wasm.fmt(at, end, base, prefix.length, out, limit);
      at = wasm.next.value as number;
      const bytes = Buffer.from(memory.buffer, out, written);
      if (this.lentEnd > 0) {
        write(Buffer.from(bytes), ignore);
        continue;
      }
      if (!write(bytes, () => this.exports === wasm && (this.lentEnd = 0))) continue;
      this.lentEnd = out + written;
      // The rest of a block too large for one call goes after the lent bytes.
      if (at < end) return this.prefix(prefix, undefined, Buffer.from(memory.buffer.slice(at, end)), write);
    }
  }

  /** Prefix, input (8 readable bytes after it), output with room to spare, from `base` on. */
  private layout(base: number, prefixLength: number, input: number) {
    const from = base + align8(prefixLength) + 8;
    const end = from + input;
    const out = align8(end + 8);
    return { base, from, end, out, limit: out + Math.max(OUTPUT_ROOM, input + prefixLength + 64) };
  }

  private instance(): PrefixExports {
    if (this.exports !== undefined) return this.exports;
    compiled ??= new WebAssembly.Module(Buffer.from(PREFIX_WASM, 'base64'));
    this.exports = new WebAssembly.Instance(compiled).exports as unknown as PrefixExports;
    this.memory = new Uint8Array(this.exports.memory.buffer);
    return this.exports;
  }

  /** Grows the memory to `bytes` (which detaches views of it: never while one is lent). */
  private reserve(wasm: PrefixExports, bytes: number): void {
    if (this.memory.length >= bytes) return;
    wasm.memory.grow(Math.ceil((bytes - this.memory.length) / PAGE));
    this.memory = new Uint8Array(wasm.memory.buffer);
  }
}

const ignore = (): void => undefined;
