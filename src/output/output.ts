import type { Instance, OutputStream } from '../domain.js';
import type { SupervisorEvent } from '../supervisor/events.js';
import type { Format } from './format.js';
import { LineSplitter, type Piece } from './lines.js';
import { noticeFor } from './notices.js';
import type { Writer } from './writer.js';

/** A partial line is shown after this much quiet (and at most twice this after it started). */
export const IDLE_FLUSH_MS = 50;

interface StreamState {
  readonly splitter: LineSplitter;
  timer: NodeJS.Timeout | undefined;
  /** Chunks seen; lets the idle timer tell a quiet stream from a busy one. */
  chunks: number;
  chunksAtArm: number;
  rearmed: boolean;
}

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
      const fresh = (): StreamState => ({ splitter: new LineSplitter(), timer: undefined, chunks: 0, chunksAtArm: 0, rearmed: false });
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
    state.splitter.push(chunk, this.pieces);
    this.emit(instance, stream);
    if (state.splitter.hasPending && state.timer === undefined) this.arm(instance, stream, state, false);
  }

  private arm(instance: Instance, stream: OutputStream, state: StreamState, rearmed: boolean): void {
    state.chunksAtArm = state.chunks;
    state.rearmed = rearmed;
    state.timer = setTimeout(() => {
      state.timer = undefined;
      if (!state.splitter.hasPending) return;
      // While stdout is blocked tf is not reading: the stream only looks idle.
      if (this.writer.blocked) return this.arm(instance, stream, state, false);
      // Still receiving: give the line one more period to finish before showing a piece.
      if (state.chunks !== state.chunksAtArm && !state.rearmed) return this.arm(instance, stream, state, true);
      state.splitter.flush(this.pieces);
      this.emit(instance, stream);
      if (state.splitter.hasPending) this.arm(instance, stream, state, false);
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
