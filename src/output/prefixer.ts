import type { BorrowedWrite } from './format.js';
import { PREFIX_WASM } from './prefix-wasm.js';

/**
 * Prefixed lines are gathered into one of two batches and written when one fills or when `flush` is
 * called (once per turn of the event loop): one write of up to this many bytes instead of one
 * per chunk read, as a flood arrives in many small reads and every write is a system call.
 */
export const BATCH_BYTES = 256 * 1024;
/** fmt's 16-byte stores run up to 15 bytes past what they copy. */
const SLACK = 64;
const BATCH_AREA = BATCH_BYTES + SLACK;
/** The prefix and the lines of one call go after both batches. */
const INPUT_AT = 2 * BATCH_AREA;
const PAGE = 64 * 1024;
/** Both batches and room for a 64 KiB read with a held line: memory never grows in use. */
const INITIAL_BYTES = INPUT_AT + 2 * 64 * 1024 + PAGE;
const NEWLINE = 0x0a;
const CR = 0x0d;
const ESC = 0x1b;
const RESET = [0x1b, 0x5b, 0x30, 0x6d];
const align8 = (n: number): number => (n + 7) & ~7;

/**
 * What puts the prefix before each line, working in one memory laid out by LinePrefixer:
 * formats the lines at [from, end) (the last byte a \n) with the prefix at `pre` into
 * [out, limit), and returns the bytes written; `next` is where it stopped (it takes a line
 * only while the whole rest of its input, prefixed, would still fit).
 */
export interface PrefixEngine {
  /** The whole memory; a new view after `grow`. */
  readonly memory: Uint8Array;
  readonly next: number;
  /** Makes the memory at least `bytes` long, keeping its content. */
  grow(bytes: number): void;
  fmt(from: number, end: number, pre: number, prefixLength: number, out: number, limit: number, reset: boolean): number;
}

interface WasmExports {
  readonly memory: WebAssembly.Memory;
  readonly next: WebAssembly.Global;
  fmt(from: number, end: number, pre: number, prefixLength: number, out: number, limit: number, reset: number): number;
}

let compiled: WebAssembly.Module | undefined;

/** prefix.wat: 16 bytes at a time. Throws where WebAssembly (or its SIMD) is not available. */
export class WasmEngine implements PrefixEngine {
  private readonly wasm: WasmExports;
  memory: Uint8Array;

  constructor() {
    compiled ??= new WebAssembly.Module(Buffer.from(PREFIX_WASM, 'base64'));
    this.wasm = new WebAssembly.Instance(compiled).exports as unknown as WasmExports;
    this.memory = new Uint8Array(this.wasm.memory.buffer);
    this.grow(INITIAL_BYTES);
  }

  get next(): number {
    return this.wasm.next.value as number;
  }

  grow(bytes: number): void {
    if (this.memory.length >= bytes) return;
    this.wasm.memory.grow(Math.ceil((bytes - this.memory.length) / PAGE));
    this.memory = new Uint8Array(this.wasm.memory.buffer);
  }

  fmt(from: number, end: number, pre: number, prefixLength: number, out: number, limit: number, reset: boolean): number {
    return this.wasm.fmt(from, end, pre, prefixLength, out, limit, reset ? 1 : 0);
  }
}

/**
 * The same in plain JavaScript, for where WebAssembly is missing (`node --jitless`) or fails.
 * The lines and their prefixed copy share one memory, so every copy is a `copyWithin` (no view or string per
 * line), and the newline and escape searches are `indexOf` over the whole input.
 */
export class JsEngine implements PrefixEngine {
  memory = new Uint8Array(INITIAL_BYTES);
  next = 0;

  grow(bytes: number): void {
    if (this.memory.length >= bytes) return;
    const bigger = new Uint8Array(Math.ceil(bytes / PAGE) * PAGE);
    bigger.set(this.memory);
    this.memory = bigger;
  }

  fmt(from: number, end: number, pre: number, prefixLength: number, out: number, limit: number, reset: boolean): number {
    const m = this.memory;
    // Bounded at `end`, so the escape search never reads past this call's lines.
    const input = m.subarray(0, end);
    let esc = reset ? input.indexOf(ESC, from) : -1;
    let s = from;
    let o = out;
    while (s < end && o + prefixLength + (end - s) + 16 <= limit) {
      m.copyWithin(o, pre, pre + prefixLength);
      o += prefixLength;
      const nl = input.indexOf(NEWLINE, s);
      const lineEnd = nl > s && m[nl - 1] === CR ? nl - 1 : nl;
      m.copyWithin(o, s, lineEnd);
      o += lineEnd - s;
      if (esc !== -1 && esc < nl) {
        for (const byte of RESET) m[o++] = byte;
        esc = input.indexOf(ESC, nl);
      }
      m[o++] = NEWLINE;
      s = nl + 1;
    }
    this.next = s;
    return o - out;
  }
}

/** WebAssembly where it runs, else JavaScript: the bytes are the same either way. */
export function bestEngine(): PrefixEngine {
  try {
    return new WasmEngine();
  } catch {
    return new JsEngine();
  }
}

/**
 * Prefixes every line of a block of complete lines. One engine and its memory serve every
 * block: no per-line or per-chunk garbage.
 */
export class LinePrefixer {
  private engine: PrefixEngine | undefined;
  /** The batch in use (0 or 1) and how much of it is filled. */
  private batch = 0;
  private batched = 0;
  /** A stream still holds a batch's bytes (a write it queued): it is not reused. */
  private readonly lent = [false, false];

  /**
   * @param reset whether a line holding an escape code gets a colour reset (colour mode only:
   *   with colour off, tf adds no escape sequence of its own).
   * @param makeEngine a fresh engine, each time a stream keeps the memory of the last one.
   */
  constructor(
    private readonly reset: boolean,
    private readonly makeEngine: () => PrefixEngine = bestEngine,
  ) {}

  /**
   * Batches `head` (the start of the first line, left over from the previous chunk) and
   * `body` (ending in \n) with `prefix` before each line, \r\n as \n, and a colour reset after
   * any line holding an escape code. What fills a batch is written through `write`; the rest
   * waits for `flush`. Every line must fit in a batch with its prefix (the line splitter cuts
   * lines at 64 KiB).
   */
  prefix(prefix: Buffer, head: Buffer | undefined, body: Buffer, write: BorrowedWrite): void {
    const input = (head === undefined ? 0 : head.length) + body.length;
    const from = INPUT_AT + align8(prefix.length) + 8;
    const end = from + input;
    const engine = this.room(end + 32, write);
    const memory = engine.memory;
    memory.set(prefix, INPUT_AT);
    if (head !== undefined) memory.set(head, from);
    memory.set(body, end - body.length);
    for (let at = from; at < end; ) {
      const out = this.batch * BATCH_AREA + this.batched;
      const limit = this.batch * BATCH_AREA + BATCH_BYTES;
      // fmt takes a line only while the whole rest of its input, grown by the prefixes, would
      // still fit: it gets at most half the room, cut at a line end.
      const take = (limit - out - prefix.length - 16) >> 1;
      const stop = end - at <= take ? end : take > 0 ? memory.lastIndexOf(NEWLINE, at + take - 1) + 1 : 0;
      if (stop > at) {
        this.batched += engine.fmt(at, stop, INPUT_AT, prefix.length, out, limit, this.reset);
        at = engine.next;
        if (at === end) break;
        if (BATCH_BYTES - this.batched > BATCH_BYTES >> 3) continue;
      }
      if (this.batched === 0) throw new Error(`a line longer than ${take} bytes reached the prefixer`);
      this.flush(write);
      // The stream kept both batches (a slow reader): the rest goes to a fresh engine.
      if (this.lent[this.batch] === true) return this.prefix(prefix, undefined, Buffer.from(memory.subarray(at, end)), write);
    }
  }

  /**
   * Writes the batch, as a view of the engine's memory. A stream that keeps the view (a slow
   * reader) has that batch until it calls back; batching goes on in the other one.
   */
  flush(write: BorrowedWrite): void {
    if (this.batched === 0 || this.engine === undefined) return;
    const batch = this.batch;
    const engine = this.engine;
    const memory = engine.memory;
    const bytes = Buffer.from(memory.buffer, memory.byteOffset + batch * BATCH_AREA, this.batched);
    this.batched = 0;
    if (!write(bytes, () => this.engine === engine && (this.lent[batch] = false))) return;
    this.lent[batch] = true;
    this.batch = 1 - batch;
  }

  /**
   * An engine whose memory holds `bytes` and whose batch in use is free. Growing memory
   * detaches (or replaces) every view of it, and a stream may hold both batches: either way
   * the memory is left to the stream, and a fresh engine takes over.
   */
  private room(bytes: number, write: BorrowedWrite): PrefixEngine {
    let engine = this.engine;
    const held = this.lent[0] === true || this.lent[1] === true;
    if (engine !== undefined && (this.lent[this.batch] === true || (held && engine.memory.length < bytes))) {
      this.flush(write);
      engine = undefined;
    }
    if (engine === undefined) {
      engine = this.makeEngine();
      this.engine = engine;
      this.lent.fill(false);
      this.batch = 0;
      this.batched = 0;
    }
    engine.grow(bytes);
    return engine;
  }
}
