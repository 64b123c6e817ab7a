import type { OutputStream } from '../domain.js';

/**
 * The recent output of one instance, for `tf logs` and `tf logs -f`.
 *
 * Bound: the last 1,000 lines or 256 KiB of text (line ends included), whichever is reached
 * first. Memory stays at that text plus one small record per stored chunk.
 *
 * Cheap on the hot path: a chunk of complete lines is copied in as one record, not split;
 * lines are cut out only when someone reads them. Eviction drops whole old records and trims
 * the oldest kept one at a line boundary.
 */
export const RING_MAX_LINES = 1000;
export const RING_MAX_BYTES = 256 * 1024;

export interface LogLine {
  /** Epoch milliseconds of arrival. */
  readonly time: number;
  readonly stream: OutputStream;
  /** The line without its line end. A view of the ring's own store: read it at once (the ring reuses it), never write to it. */
  readonly text: Buffer;
  /** This piece continues the line before it (a long line cut, or a partial line flushed while idle). */
  readonly continued?: true;
}

/** What a follower's queue holds: a chunk of complete lines (each ends in `\n`) or one line piece, in bytes of its own. */
type Entry =
  | { readonly kind: 'lines'; readonly time: number; readonly stream: OutputStream; readonly bytes: Buffer }
  | { readonly kind: 'piece'; readonly time: number; readonly stream: OutputStream; readonly bytes: Buffer; readonly continued: boolean };

/** What the ring stores: the same, as a span [start, end) of its byte store (`start` moves when the record is trimmed). */
interface Stored {
  readonly kind: 'lines' | 'piece';
  readonly time: number;
  readonly stream: OutputStream;
  readonly continued: boolean;
  start: number;
  readonly end: number;
}

const LF = 0x0a;
const CR = 0x0d;
/** The store's first size: an instance that prints little holds little. */
const FIRST_STORE_BYTES = 16 * 1024;

export interface RingLimits {
  readonly maxLines: number;
  readonly maxBytes: number;
}

export interface SubscriberLimits {
  /** Lines or pieces held for a subscriber that has not taken them yet. */
  readonly maxEntries: number;
  readonly maxBytes: number;
}

/** What a subscriber gets: the lines in order, then how many lines were dropped after them. */
export interface Taken {
  readonly lines: LogLine[];
  readonly dropped: number;
}

export class LogRing {
  private records: Stored[] = [];
  private first = 0;
  private bytes = 0;
  /**
   * One circular store of text per instance: byte position `p` (counted from the ring's first
   * byte ever) lives at `p % store.length`. A flood is copied into the same memory over and
   * over, where a buffer per chunk would leave V8 a pile of dead external memory to collect late.
   */
  private store = Buffer.alloc(0);
  /** Position after the last byte written. */
  private written = 0;
  private readonly subscribers = new Set<Subscription>();

  constructor(private readonly limits: RingLimits = { maxLines: RING_MAX_LINES, maxBytes: RING_MAX_BYTES }) {}

  /**
   * Complete lines: `head` (a line's start held from an earlier chunk, if any) then `body`,
   * which ends in `\n`. Both are lent: the ring copies them.
   */
  pushLines(time: number, stream: OutputStream, body: Buffer, head?: Buffer): void {
    if (body.length === 0) return;
    let length = (head?.length ?? 0) + body.length;
    if (length > this.limits.maxBytes) {
      // Only the newest whole lines that fit can be kept, and nothing older.
      const all = head === undefined ? body : Buffer.concat([head, body]);
      const cut = all.indexOf(LF, length - this.limits.maxBytes - 1) + 1;
      this.clear();
      if (cut <= 0 || cut >= length) return;
      body = all.subarray(cut);
      head = undefined;
      length = body.length;
    }
    this.add('lines', time, stream, false, length, head, body);
  }

  /** One line, or one piece of a line, without its line end; lent, copied here. */
  pushPiece(time: number, stream: OutputStream, text: Buffer, continued = false): void {
    if (text.length > this.limits.maxBytes) return this.clear();
    this.add('piece', time, stream, continued, text.length, undefined, text);
  }

  /** Up to `n` of the most recent lines, oldest first (never more than the ring's line bound). */
  last(n: number): LogLine[] {
    const want = Math.min(n, this.limits.maxLines);
    const out: LogLine[] = [];
    for (let i = this.records.length - 1; i >= this.first && out.length < want; i--) {
      const record = this.records[i] as Stored;
      linesBackwards(this.entry(record), want - out.length, out);
    }
    return out.reverse();
  }

  /** Text bytes held (for tests and `ps` diagnostics). */
  get size(): { readonly bytes: number; readonly chunks: number } {
    return { bytes: this.bytes, chunks: this.records.length - this.first };
  }

  /**
   * Follows new output. `onReadable` is called when lines become available to `take` after
   * the subscriber's queue was empty; the subscriber takes them at its own pace. A subscriber
   * that falls behind its bound loses lines (counted, reported in order), never the producer's
   * time.
   */
  subscribe(onReadable: () => void, limits: SubscriberLimits = { maxEntries: RING_MAX_LINES, maxBytes: RING_MAX_BYTES }): Subscription {
    const subscription = new Subscription(onReadable, limits, (s) => this.subscribers.delete(s));
    this.subscribers.add(subscription);
    return subscription;
  }

  private add(kind: Stored['kind'], time: number, stream: OutputStream, continued: boolean, length: number, head: Buffer | undefined, body: Buffer): void {
    this.makeRoom(length);
    const start = this.written;
    if (head !== undefined) this.write(head);
    this.write(body);
    const record: Stored = { kind, time, stream, continued, start, end: this.written };
    this.records.push(record);
    this.bytes += length;
    // Each record holds at least one line, so records beyond the line bound are all older than the last maxLines lines.
    while (this.records.length - this.first > this.limits.maxLines) this.dropOldest();
    if (this.first > 64 && this.first * 2 > this.records.length) {
      this.records = this.records.slice(this.first);
      this.first = 0;
    }
    if (this.subscribers.size === 0) return;
    // A follower's queue outlives the store's bytes, so it gets a copy (one, shared by all followers).
    const entry = this.entry(record, true);
    for (const subscriber of this.subscribers) subscriber.offer(entry);
  }

  /** Drops and trims the oldest records until `length` more bytes fit, growing the store while it is below the bound. */
  private makeRoom(length: number): void {
    const needed = this.bytes + length;
    if (needed > this.store.length && this.store.length < this.limits.maxBytes) {
      let size = Math.max(this.store.length, Math.min(FIRST_STORE_BYTES, this.limits.maxBytes));
      while (size < needed && size < this.limits.maxBytes) size = Math.min(size * 2, this.limits.maxBytes);
      this.resize(size);
    }
    while (this.bytes + length > this.store.length) this.trimOldest(this.bytes + length - this.store.length);
  }

  private resize(size: number): void {
    const live = this.first < this.records.length ? (this.records[this.first] as Stored).start : this.written;
    const kept = this.view(live, this.written, true);
    this.store = Buffer.allocUnsafeSlow(size);
    this.written = live;
    this.write(kept);
  }

  private clear(): void {
    while (this.first < this.records.length) this.dropOldest();
  }

  private dropOldest(): void {
    const oldest = this.records[this.first] as Stored;
    this.bytes -= oldest.end - oldest.start;
    this.records[this.first] = undefined as unknown as Stored;
    this.first++;
  }

  /** Frees at least `excess` bytes from the front, keeping whole lines. */
  private trimOldest(excess: number): void {
    const oldest = this.records[this.first] as Stored;
    const length = oldest.end - oldest.start;
    if (oldest.kind === 'piece' || length <= excess) return this.dropOldest();
    const cut = this.indexOfLF(oldest.start + excess - 1, oldest.end) + 1;
    if (cut <= 0 || cut >= oldest.end) return this.dropOldest();
    this.bytes -= cut - oldest.start;
    oldest.start = cut;
  }

  /** Copies `bytes` in at the write position, wrapping at the end of the store. */
  private write(bytes: Buffer): void {
    const store = this.store;
    const at = this.written % store.length;
    const room = store.length - at;
    if (bytes.length <= room) store.set(bytes, at);
    else {
      store.set(new Uint8Array(bytes.buffer, bytes.byteOffset, room), at);
      store.set(new Uint8Array(bytes.buffer, bytes.byteOffset + room, bytes.length - room), 0);
    }
    this.written += bytes.length;
  }

  /** The bytes at [start, end): a view of the store, or a copy where they wrap (or where `copy` asks for one). */
  private view(start: number, end: number, copy = false): Buffer {
    if (end === start) return Buffer.alloc(0);
    const size = this.store.length;
    const at = start % size;
    const length = end - start;
    if (at + length <= size) {
      const bytes = this.store.subarray(at, at + length);
      return copy ? Buffer.from(bytes) : bytes;
    }
    return Buffer.concat([this.store.subarray(at), this.store.subarray(0, length - (size - at))], length);
  }

  /** Position of the first `\n` in [from, end), or -1. */
  private indexOfLF(from: number, end: number): number {
    const size = this.store.length;
    const at = from % size;
    const tail = Math.min(size - at, end - from);
    const found = this.store.subarray(at, at + tail).indexOf(LF);
    if (found !== -1) return from + found;
    if (tail === end - from) return -1;
    const wrapped = this.store.subarray(0, end - from - tail).indexOf(LF);
    return wrapped === -1 ? -1 : from + tail + wrapped;
  }

  private entry(record: Stored, copy = false): Entry {
    const bytes = this.view(record.start, record.end, copy);
    return record.kind === 'lines'
      ? { kind: 'lines', time: record.time, stream: record.stream, bytes }
      : { kind: 'piece', time: record.time, stream: record.stream, bytes, continued: record.continued };
  }
}

/** Appends up to `max` lines of `entry` to `out`, newest first. */
function linesBackwards(entry: Entry, max: number, out: LogLine[]): void {
  const { time, stream, bytes } = entry;
  if (entry.kind === 'piece') {
    out.push(entry.continued ? { time, stream, text: bytes, continued: true } : { time, stream, text: bytes });
    return;
  }
  let end = bytes.length - 1; // the `\n` that ends the last line
  let taken = 0;
  while (end >= 0 && taken < max) {
    const start = end === 0 ? 0 : bytes.lastIndexOf(LF, end - 1) + 1;
    const textEnd = end > start && bytes[end - 1] === CR ? end - 1 : end;
    out.push({ time, stream, text: bytes.subarray(start, textEnd) });
    taken++;
    end = start - 1;
  }
}

function countLines(entry: Entry): number {
  if (entry.kind === 'piece') return 1;
  let count = 0;
  for (let at = entry.bytes.indexOf(LF); at !== -1; at = entry.bytes.indexOf(LF, at + 1)) count++;
  return count;
}

/** One follower's queue: entries of its own (shared between followers, immutable), never copied again. */
export class Subscription {
  private queue: Entry[] = [];
  private queuedBytes = 0;
  /** Lines lost since the last take; while non-zero the queue takes nothing, so the gap sits after the queued lines. */
  private dropped = 0;
  private closed = false;

  constructor(
    private readonly onReadable: () => void,
    private readonly limits: SubscriberLimits,
    private readonly detach: (s: Subscription) => void,
  ) {}

  /** @internal Called by the ring for each new entry. */
  offer(entry: Entry): void {
    if (this.closed) return;
    const wasEmpty = this.queue.length === 0 && this.dropped === 0;
    if (this.dropped > 0 || this.queue.length >= this.limits.maxEntries || this.queuedBytes + entry.bytes.length > this.limits.maxBytes) {
      this.dropped += countLines(entry);
    } else {
      this.queue.push(entry);
      this.queuedBytes += entry.bytes.length;
    }
    if (wasEmpty) this.onReadable();
  }

  /** Everything queued, as lines, and the number dropped after them; the next new entry calls onReadable again. */
  take(): Taken {
    const lines: LogLine[] = [];
    for (const entry of this.queue) {
      const start = lines.length;
      linesBackwards(entry, Number.MAX_SAFE_INTEGER, lines);
      reverseFrom(lines, start);
    }
    const taken = { lines, dropped: this.dropped };
    this.queue = [];
    this.queuedBytes = 0;
    this.dropped = 0;
    return taken;
  }

  /** Stops following; safe to call more than once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.detach(this);
  }
}

function reverseFrom<T>(items: T[], start: number): void {
  for (let i = start, j = items.length - 1; i < j; i++, j--) {
    const t = items[i] as T;
    items[i] = items[j] as T;
    items[j] = t;
  }
}
