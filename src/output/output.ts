import type { Instance, OutputStream } from '../domain.js';
import type { SupervisorEvent } from '../supervisor/events.js';
import type { BorrowedWrite, Format } from './format.js';
import { LineSplitter, type Block, type Piece } from './lines.js';
import { noticeFor } from './notices.js';
import type { Writer } from './writer.js';

/** A partial line is shown once its stream has been quiet this long (checked at this period). */
export const IDLE_FLUSH_MS = 50;
/**
 * A partial line left by a large chunk is the cut of block-buffered bulk output (a 4 KiB
 * stdio buffer, a full pipe), not a prompt: the rest is on its way, so it gets longer to
 * arrive before being shown, which keeps lines whole when producers are starved of CPU.
 */
export const BULK_CHUNK_BYTES = 4096;
export const BULK_QUIET_MS = 1000;
/** A partial line still growing after this long is shown anyway (a progress bar, dots). */
export const MAX_PARTIAL_WAIT_MS = 1000;

/**
 * Sees exactly the lines the format is given, as they are given (pieces, or a block of
 * complete lines), so a copy kept elsewhere (the log ring of `tf logs`) shows what stdout
 * shows. Both arguments are lent: a tap copies what it keeps.
 */
export interface OutputTap {
  pieces(instance: Instance, stream: OutputStream, pieces: readonly Piece[]): void;
  block(instance: Instance, stream: OutputStream, lines: Block): void;
}

interface StreamState {
  readonly splitter: LineSplitter;
  timer: NodeJS.Timeout | undefined;
  /** When the last chunk arrived (ms). */
  lastChunkAt: number;
  /** When the line now pending began (ms). */
  partialSince: number;
  /** The pending partial line was left by a large chunk. */
  bulk: boolean;
}

/**
 * The Output stage of the flow: consumes supervisor events and writes what they mean. Each
 * stream of an instance ('output' for both through one pipe, or 'stdout' and 'stderr') is
 * split into lines on its own; the stream's name is only a key here.
 */
export class Output {
  private readonly streams = new WeakMap<Instance, Map<OutputStream, StreamState>>();
  private readonly pieces: Piece[] = [];
  private readonly block: Format['block'];
  private readonly borrowed: BorrowedWrite;
  /** The format holds a batch back, to be written on the next timer turn. */
  private batched = false;
  /** Notices held back to the end of this synchronous stretch (or the next write), in order. */
  private readonly notices: (Buffer | string)[] = [];
  /** endOfTurn is due. */
  private scheduled = false;

  constructor(
    private readonly format: Format,
    private readonly writer: Writer,
    private readonly tap?: OutputTap,
  ) {
    this.block = format.block?.bind(format);
    this.borrowed = (bytes, released) => writer.writeBorrowed(bytes, released);
  }

  handle(event: SupervisorEvent): void {
    switch (event.kind) {
      case 'output':
        return this.chunk(event.instance, event.stream, event.chunk);
      case 'output-end':
        return this.end(event.instance, event.stream);
      default:
        return this.notice(this.format.notice(noticeFor(event)));
    }
  }

  /**
   * A notice of tf's own, in order with the lines. The notices of one synchronous stretch go
   * out in one write when it ends (a start of 50 instances is 50 "started" lines, and every
   * write wakes the reader); never later, as other writers share the terminal (tf run --with's
   * command, tf's own stderr). On the next tick, not in a microtask: a write's EPIPE is reported
   * on a tick, which must come before the promise chain that ends tf (exit 141).
   */
  notice(bytes: Buffer | string): void {
    this.writeBatch();
    if (this.notices.length === 0) process.nextTick(this.writeNotices);
    this.notices.push(bytes);
  }

  /** Writes whatever is held back; everything handled so far is then with the writer. */
  readonly flush = (): void => {
    this.writeNotices();
    this.writeBatch();
  };

  private writeBatch(): void {
    if (!this.batched) return;
    this.batched = false;
    this.format.flush?.(this.borrowed);
  }

  /** Held notices come before anything written after them; the format's batch is empty while there are any. */
  private readonly writeNotices = (): void => {
    if (this.notices.length === 0) return;
    const bytes =
      this.notices.length === 1 ? (this.notices[0] as Buffer | string) : Buffer.concat(this.notices.map((n) => (typeof n === 'string' ? Buffer.from(n) : n)));
    this.notices.length = 0;
    this.writer.write(bytes);
  };

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // A flood's batches are written on the next timer turn, not at the end of this one: the reads
    // that come in meanwhile join them, so a flood takes fewer, larger writes.
    setTimeout(this.endOfTurn, 1);
  }

  /**
   * The next timer turn after a batch began: writes the batch, unless stdout is blocked. A blocked stream
   * would have to be handed a copy (it queues what it is given, and the batch's memory is
   * reused), and tf reads nothing more until it drains; so the batch waits until then, and
   * the drain flushes it (see start). Copies would be short-lived garbage for every turn of a
   * slow reader's run, and raise peak memory.
   */
  private readonly endOfTurn = (): void => {
    this.scheduled = false;
    if (!this.writer.blocked) this.flush();
  };

  private state(instance: Instance, stream: OutputStream): StreamState {
    let states = this.streams.get(instance);
    if (states === undefined) {
      states = new Map();
      this.streams.set(instance, states);
    }
    let state = states.get(stream);
    if (state === undefined) {
      state = { splitter: new LineSplitter(), timer: undefined, lastChunkAt: 0, partialSince: 0, bulk: false };
      states.set(stream, state);
    }
    return state;
  }

  private emit(instance: Instance, stream: OutputStream): void {
    if (this.pieces.length === 0) return;
    this.flush();
    this.tap?.pieces(instance, stream, this.pieces);
    this.writer.write(this.format.lines(instance, stream, this.pieces, this.writer.terminal));
    this.pieces.length = 0;
  }

  private chunk(instance: Instance, stream: OutputStream, chunk: Buffer): void {
    const state = this.state(instance, stream);
    const now = Date.now();
    const hadPending = state.splitter.hasPending;
    state.lastChunkAt = now;
    state.bulk = chunk.length >= BULK_CHUNK_BYTES;
    let lines: Block | undefined;
    // Small chunks (a prompt, a log line) go line by line: the bulk path pays off on floods.
    if (this.block === undefined || !state.bulk) state.splitter.push(chunk, this.pieces);
    else lines = state.splitter.pushBlock(chunk, this.pieces);
    // The pending partial line is a new one when this chunk completed a line (or none was pending).
    if (this.pieces.length > 0 || lines !== undefined || !hadPending) state.partialSince = now;
    if (lines !== undefined && this.block !== undefined) this.batch(instance, stream, lines, this.block);
    else this.emit(instance, stream);
    if (state.splitter.hasPending && state.timer === undefined) this.arm(instance, stream, state);
  }

  private batch(instance: Instance, stream: OutputStream, lines: Block, block: NonNullable<Format['block']>): void {
    this.writeNotices();
    this.tap?.block(instance, stream, lines);
    block(instance, stream, lines, this.borrowed);
    this.batched = true;
    this.schedule();
  }

  /**
   * Shows a partial line once its stream has been quiet long enough, so a prompt appears
   * but a line that is still arriving is not torn. A redrawn line (a progress bar) is shown
   * on a terminal only, where it is redrawn in place; a pipe or file gets its last state
   * when the line ends, one line per line (the next chunk arms the timer again).
   */
  private arm(instance: Instance, stream: OutputStream, state: StreamState): void {
    state.timer = setTimeout(() => {
      state.timer = undefined;
      if (!state.splitter.hasPending || (state.splitter.redrawing && !this.writer.terminal)) return;
      const now = Date.now();
      const quiet = now - state.lastChunkAt >= (state.bulk ? BULK_QUIET_MS : IDLE_FLUSH_MS);
      const overdue = now - state.partialSince >= MAX_PARTIAL_WAIT_MS;
      // While stdout is blocked tf is not reading: the stream only looks quiet.
      if (this.writer.blocked || !(quiet || overdue)) return this.arm(instance, stream, state);
      // Quiet by tf's clock only: a starved tf runs its timers before reading what arrived
      // meanwhile. Decide on the next turn, after the pipes have been read: a chunk that came
      // in re-armed the timer, and the line is left whole.
      const seen = state.lastChunkAt;
      setTimeout(() => {
        if (!state.splitter.hasPending || (!overdue && state.lastChunkAt !== seen)) return;
        if (state.timer !== undefined) clearTimeout(state.timer);
        state.timer = undefined;
        state.splitter.flush(this.pieces);
        this.emit(instance, stream);
        if (state.splitter.hasPending) this.arm(instance, stream, state);
      }, 0);
    }, IDLE_FLUSH_MS);
  }

  private end(instance: Instance, stream: OutputStream): void {
    const state = this.state(instance, stream);
    if (state.timer !== undefined) clearTimeout(state.timer);
    state.timer = undefined;
    state.splitter.flush(this.pieces, true);
    this.emit(instance, stream);
  }
}
