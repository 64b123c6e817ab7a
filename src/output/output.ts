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

/** Consumes supervisor events and writes what they mean: the output stage of the flow. */
export class Output {
  private readonly streams = new WeakMap<Instance, Partial<Record<OutputStream, StreamState>>>();
  private readonly pieces: Piece[] = [];
  private readonly block: Format['block'];
  private readonly borrowed: BorrowedWrite;
  /** Blocks the format holds back are written at the end of this turn of the event loop. */
  private staged = false;

  constructor(
    private readonly format: Format,
    private readonly writer: Writer,
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
        this.flush();
        this.writer.write(this.format.notice(noticeFor(event)));
    }
  }

  /** Writes whatever is held back; everything handled so far is then with the writer. */
  readonly flush = (): void => {
    if (!this.staged) return;
    this.staged = false;
    this.format.flush?.(this.borrowed);
  };

  /**
   * The end of a turn: writes what the turn staged, unless stdout is blocked. A blocked
   * stream would have to be handed a copy (it queues what it is given, and the staging area
   * is reused), and tf reads nothing more until it drains; so the bytes stay staged until
   * then, and the drain flushes them (see start). Copying them cost a slow reader's run
   * ~25 MB of short-lived buffers over 200 MB, +7 MB of peak RSS.
   */
  private readonly endOfTurn = (): void => {
    if (!this.writer.blocked) this.flush();
  };

  private state(instance: Instance, stream: OutputStream): StreamState {
    let streams = this.streams.get(instance);
    if (streams === undefined) {
      streams = {};
      this.streams.set(instance, streams);
    }
    return (streams[stream] ??= { splitter: new LineSplitter(), timer: undefined, lastChunkAt: 0, partialSince: 0, bulk: false });
  }

  private emit(instance: Instance, stream: OutputStream): void {
    if (this.pieces.length === 0) return;
    this.flush();
    this.writer.write(this.format.lines(instance, stream, this.pieces));
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
    if (lines !== undefined && this.block !== undefined) this.stage(instance, stream, lines, this.block);
    else this.emit(instance, stream);
    if (state.splitter.hasPending && state.timer === undefined) this.arm(instance, stream, state);
  }

  private stage(instance: Instance, stream: OutputStream, lines: Block, block: NonNullable<Format['block']>): void {
    block(instance, stream, lines, this.borrowed);
    if (this.staged) return;
    this.staged = true;
    setImmediate(this.endOfTurn);
  }

  /**
   * Shows a partial line once its stream has been quiet long enough, so a prompt appears
   * but a line that is still arriving is not torn.
   */
  private arm(instance: Instance, stream: OutputStream, state: StreamState): void {
    state.timer = setTimeout(() => {
      state.timer = undefined;
      if (!state.splitter.hasPending) return;
      const now = Date.now();
      const quiet = now - state.lastChunkAt >= (state.bulk ? BULK_QUIET_MS : IDLE_FLUSH_MS);
      const overdue = now - state.partialSince >= MAX_PARTIAL_WAIT_MS;
      // While stdout is blocked tf is not reading: the stream only looks quiet.
      if (this.writer.blocked || !(quiet || overdue)) return this.arm(instance, stream, state);
      state.splitter.flush(this.pieces);
      this.emit(instance, stream);
      if (state.splitter.hasPending) this.arm(instance, stream, state);
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
