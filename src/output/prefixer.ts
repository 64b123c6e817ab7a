import { PREFIX_WASM } from './prefix-wasm.js';

interface PrefixExports {
  readonly memory: WebAssembly.Memory;
  readonly next: WebAssembly.Global;
  fmt(from: number, end: number, prefixLength: number, out: number, limit: number): number;
}

/** Output room per call beyond the input's own size; a call that needs more comes back for it. */
const OUTPUT_ROOM = 256 * 1024;
const PAGE = 64 * 1024;
const align8 = (n: number): number => (n + 7) & ~7;

let compiled: WebAssembly.Module | undefined;

/**
 * Prefixes every line of a block of complete lines (prefix.wat does the work). One instance
 * and its memory are reused for every block: no per-line or per-chunk garbage but the result.
 */
export class LinePrefixer {
  private exports: PrefixExports | undefined;
  private memory = new Uint8Array(0);

  /**
   * `head` (the start of the first line, left over from the previous chunk) and `body` (ending
   * in \n) are the lines; hands them to `write` with `prefix` before each, \r\n as \n, and a
   * colour reset after any line holding an escape code. What `write` gets is a view of the
   * module's memory, not a copy: `write` returns true when it kept the view (a stream that
   * queued it), and the memory is then left to it and never written again.
   */
  prefix(prefix: Buffer, head: Buffer | undefined, body: Buffer, write: (bytes: Buffer) => boolean): void {
    const wasm = this.instance();
    const headLength = head === undefined ? 0 : head.length;
    const from = align8(prefix.length) + 8;
    const end = from + headLength + body.length;
    const out = align8(end + 8);
    const limit = out + Math.max(OUTPUT_ROOM, end - from + prefix.length + 64);
    this.reserve(wasm, limit + 8);
    const memory = this.memory;
    memory.set(prefix, 0);
    if (head !== undefined) memory.set(head, from);
    memory.set(body, from + headLength);
    for (let at = from; at < end; ) {
      const written = wasm.fmt(at, end, prefix.length, out, limit);
      at = wasm.next.value as number;
      if (write(Buffer.from(memory.buffer, out, written))) {
        // The memory now belongs to the stream; what input is left moves to a fresh instance.
        const rest = at < end ? Buffer.from(memory.buffer.slice(at, end)) : undefined;
        this.exports = undefined;
        if (rest !== undefined) this.prefix(prefix, undefined, rest, write);
        return;
      }
    }
  }

  private instance(): PrefixExports {
    if (this.exports !== undefined) return this.exports;
    compiled ??= new WebAssembly.Module(Buffer.from(PREFIX_WASM, 'base64'));
    this.exports = new WebAssembly.Instance(compiled).exports as unknown as PrefixExports;
    this.memory = new Uint8Array(this.exports.memory.buffer);
    return this.exports;
  }

  /** Grows the memory to `bytes` (growing detaches the old view). */
  private reserve(wasm: PrefixExports, bytes: number): void {
    if (this.memory.length >= bytes) return;
    wasm.memory.grow(Math.ceil((bytes - this.memory.length) / PAGE));
    this.memory = new Uint8Array(wasm.memory.buffer);
  }
}
