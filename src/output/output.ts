import type { Instance, OutputStream } from '../domain.js';
import type { SupervisorEvent } from '../supervisor/events.js';
import type { Format } from './format.js';
import { LineSplitter, type Piece } from './lines.js';
import { noticeFor } from './notices.js';
import type { Writer } from './writer.js';

/** A partial line is shown after one to two of these periods of quiet. */
export const IDLE_FLUSH_MS = 50;

interface StreamState {
  readonly splitter: LineSplitter;
  timer: NodeJS.Timeout | undefined;
  /** Chunks seen; lets the idle timer tell a quiet stream from a busy one. */
  chunks: number;
  chunksAtArm: number;
  /** When the line now pending began (ms): a line growing for long is a progress bar. */
  partialSince: number;
}

/** A partial line still growing after this long is shown anyway (a progress bar, dots). */
export const MAX_PARTIAL_WAIT_MS = 1000;

/** Consumes supervisor events and writes what they mean: the output stage of the flow. */
export class Output {
  private readonly streams = new WeakMap<Instance, Record<OutputStream, StreamState>>();
  private readonly pieces: Piece[] = [];

  constructor(
    private readonly format: Format,
    private readonly writer: Writer,
  ) {}

  handle(event: SupervisorEvent): void {
    switch (event.kind) {
      case 'output':
        return this.chunk(event.instance, event.stream, event.chunk);
      case 'output-end':
        return this.end(event.instance, event.stream);
      default:
        this.writer.write(this.format.notice(noticeFor(event)));
    }
  }

  private state(instance: Instance, stream: OutputStream): StreamState {
    let pair = this.streams.get(instance);
    if (pair === undefined) {
      const fresh = (): StreamState => ({ splitter: new LineSplitter(), timer: undefined, chunks: 0, chunksAtArm: 0, partialSince: 0 });
      pair = { stdout: fresh(), stderr: fresh() };
      this.streams.set(instance, pair);
    }
    return pair[stream];
  }

  private emit(instance: Instance, stream: OutputStream): void {
    if (this.pieces.length === 0) return;
    this.writer.write(this.format.lines(instance, stream, this.pieces));
    this.pieces.length = 0;
  }

  private chunk(instance: Instance, stream: OutputStream, chunk: Buffer): void {
    const state = this.state(instance, stream);
    state.chunks++;
    const hadPending = state.splitter.hasPending;
    let lines: string | undefined;
    if (this.format.block === undefined) state.splitter.push(chunk, this.pieces);
    else lines = state.splitter.pushBlock(chunk, this.pieces);
    // A new partial line starts when this chunk ended one (or there was none): once per chunk.
    if (this.pieces.length > 0 || (lines !== undefined && lines !== '') || !hadPending) state.partialSince = Date.now();
    if (lines !== undefined && lines !== '') this.writer.write(this.format.block?.(instance, stream, lines) ?? '');
    else this.emit(instance, stream);
    if (state.splitter.hasPending && state.timer === undefined) this.arm(instance, stream, state);
  }

  /**
   * Shows a partial line once its stream has been quiet for a whole period, so a prompt
   * appears but a line that is still arriving is not torn.
   */
  private arm(instance: Instance, stream: OutputStream, state: StreamState): void {
    state.chunksAtArm = state.chunks;
    state.timer = setTimeout(() => {
      state.timer = undefined;
      if (!state.splitter.hasPending) return;
      const busy = state.chunks !== state.chunksAtArm && Date.now() - state.partialSince < MAX_PARTIAL_WAIT_MS;
      // While stdout is blocked tf is not reading: the stream only looks quiet.
      if (busy || this.writer.blocked) return this.arm(instance, stream, state);
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
