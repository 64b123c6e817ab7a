import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Output read before the first collection: a session that prints less never pays for this. */
const START_AFTER_BYTES = 2 << 20;
const EVERY_BYTES = 2 << 20;

type Collect = (options: { type: 'minor' }) => void;

/**
 * Node hands every read from a child's pipe to JavaScript in a new buffer outside V8's heap,
 * and V8 collects such memory only once about 64 MB of it has piled up: under a flood of
 * output tf would carry tens of MB of dead read buffers (the benchmark's node pump peaks at
 * 80 MB, against 54 MB collecting every 2 MB). A young-generation collection after every few
 * MB read frees them; it costs well under a millisecond, as the live young objects are few.
 *
 * The collector is reached the way jest's leak detector does: the flag makes V8 install
 * `gc` in contexts created after it, and only in those; nothing else changes.
 */
export class ReadReclaimer {
  private read = 0;
  private next: number;

  constructor(
    private readonly everyBytes = EVERY_BYTES,
    startAfterBytes = START_AFTER_BYTES,
    private collect: Collect | undefined = undefined,
  ) {
    this.next = startAfterBytes;
  }

  noteRead(bytes: number): void {
    this.read += bytes;
    if (this.read < this.next) return;
    this.next = this.read + this.everyBytes;
    this.collector()({ type: 'minor' });
  }

  private collector(): Collect {
    if (this.collect === undefined) {
      setFlagsFromString('--expose-gc');
      const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
      this.collect = typeof gc === 'function' ? (gc as Collect) : () => undefined;
    }
    return this.collect;
  }
}
