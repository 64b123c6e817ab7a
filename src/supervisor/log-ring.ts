import type { OutputStream } from '../domain.js';

/**
 * The recent output of one instance, for `tf logs` and `tf logs -f`.
 *
 * Bound: the last 1,000 lines or 256 KiB of text, whichever is reached first (line ends are
 * not counted as text). Memory stays at that text plus one small record per stored chunk.
 *
 * Cheap on the hot path: a chunk of complete lines is stored as one copied buffer, not
 * split; lines are cut out only when someone reads them. Eviction drops whole old chunks and
 * trims the oldest kept chunk at a line boundary.
 */
export const RING_MAX_LINES = 1000;
export const RING_MAX_BYTES = 256 * 1024;

export interface LogLine {
  /** Epoch milliseconds of arrival. */
  readonly time: number;
  readonly stream: OutputStream;
  /** The line without its line end. A view of the ring's own buffer: read it at once (the ring reuses its buffers), never write to it. */
  readonly text: Buffer;
  /** This piece continues the line before it (a long line cut, or a partial line flushed while idle). */
  readonly continued?: true;
}

/** What the ring stores: a chunk of complete lines (each ends in `\n`) or one line piece. */
type Entry =
  /** `slab`: the ring's own buffer behind `bytes`, reused once the entry is dropped (see `copy`). */
  | { readonly kind: 'lines'; readonly time: number; readonly stream: OutputStream; readonly bytes: Buffer; readonly slab: Buffer }
  | { readonly kind: 'piece'; readonly time: number; readonly stream: OutputStream; readonly bytes: Buffer; readonly continued: boolean };

const LF = 0x0a;
const CR = 0x0d;
/** The smallest buffer a chunk is copied into, so that reused buffers fit most chunks. */
const SLAB_BYTES = 16 * 1024;
/** Dropped buffers kept for reuse: a flood then copies into the same few, instead of allocating one per chunk. */
const SPARE_SLABS = 4;

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
  private entries: Entry[] = [];
  private first = 0;
  private bytes = 0;
  private readonly subscribers = new Set<Subscription>();
  private readonly spare: Buffer[] = [];

  constructor(private readonly limits: RingLimits = { maxLines: RING_MAX_LINES, maxBytes: RING_MAX_BYTES }) {}

  /**
   * Complete lines: `head` (a line's start held from an earlier chunk, if any) then `body`,
   * which ends in `\n`. Both are lent: the ring copies them, once, as one buffer.
   */
  pushLines(time: number, stream: OutputStream, body: Buffer, head?: Buffer): void {
    if (body.length === 0) return;
    const length = (head?.length ?? 0) + body.length;
    let slab = this.spare.pop();
    if (slab === undefined || slab.length < length) slab = Buffer.allocUnsafeSlow(Math.max(length, SLAB_BYTES));
    const at = head === undefined ? 0 : head.copy(slab, 0);
    body.copy(slab, at);
    this.add({ kind: 'lines', time, stream, bytes: slab.subarray(0, length), slab });
  }

  /** One line, or one piece of a line, without its line end; lent, copied here. */
  pushPiece(time: number, stream: OutputStream, text: Buffer, continued = false): void {
    this.add({ kind: 'piece', time, stream, bytes: Buffer.from(text), continued });
  }

  /** Up to `n` of the most recent lines, oldest first (never more than the ring's line bound). */
  last(n: number): LogLine[] {
    const want = Math.min(n, this.limits.maxLines);
    const out: LogLine[] = [];
    for (let i = this.entries.length - 1; i >= this.first && out.length < want; i--) {
      linesBackwards(this.entries[i] as Entry, want - out.length, out);
    }
    return out.reverse();
  }

  /** Text bytes held (for tests and `ps` diagnostics). */
  get size(): { readonly bytes: number; readonly chunks: number } {
    return { bytes: this.bytes, chunks: this.entries.length - this.first };
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

  private add(entry: Entry): void {
    for (const subscriber of this.subscribers) subscriber.offer(entry);
    this.entries.push(entry);
    this.bytes += entry.bytes.length;
    // Each entry holds at least one line, so entries beyond the line bound are all older than the last maxLines lines.
    while (this.entries.length - this.first > this.limits.maxLines) this.dropOldest();
    while (this.bytes > this.limits.maxBytes) this.trimOldest(this.bytes - this.limits.maxBytes);
    if (this.first > 64 && this.first * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.first);
      this.first = 0;
    }
  }

  private dropOldest(): void {
    const oldest = this.entries[this.first] as Entry;
    // Reused only while nobody else may hold it: a follower's queue shares entries with the ring.
    if (oldest.kind === 'lines' && this.subscribers.size === 0 && this.spare.length < SPARE_SLABS) this.spare.push(oldest.slab);
    this.bytes -= oldest.bytes.length;
    this.entries[this.first] = undefined as unknown as Entry;
    this.first++;
  }

  /** Frees at least `excess` bytes from the front, keeping whole lines. */
  private trimOldest(excess: number): void {
    const oldest = this.entries[this.first] as Entry;
    if (oldest.kind === 'piece' || oldest.bytes.length <= excess) return this.dropOldest();
    const cut = oldest.bytes.indexOf(LF, excess - 1) + 1;
    if (cut <= 0 || cut >= oldest.bytes.length) return this.dropOldest();
    // A view: its slab is the ring's own, reused once the entry goes.
    const kept = oldest.bytes.subarray(cut);
    this.bytes -= cut;
    // A new record: subscribers may still hold the old one, whole.
    this.entries[this.first] = { ...oldest, bytes: kept };
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

/** One follower's queue: entries are shared with the ring (immutable), never copied again. */
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
