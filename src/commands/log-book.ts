import type { Instance, OutputStream } from '../domain.js';
import type { Block, Piece } from '../output/lines.js';
import type { OutputTap } from '../output/output.js';
import { LogRing, type LogLine } from '../supervisor/log-ring.js';

/** A stored line with the instance it came from. */
export interface NamedLine {
  readonly name: string;
  readonly line: LogLine;
}

/**
 * The recent output of every instance, one bounded LogRing each (see log-ring.ts for the
 * bound), fed by the Output stage so `tf logs` shows the very lines `start` printed. Keyed by
 * instance name: a restarted instance keeps its history.
 */
export class LogBook implements OutputTap {
  private readonly rings = new Map<string, LogRing>();
  private readonly watchers = new Set<(name: string, ring: LogRing) => void>();

  constructor(private readonly now: () => number = Date.now) {}

  pieces(instance: Instance, stream: OutputStream, pieces: readonly Piece[]): void {
    const ring = this.ring(instance.name);
    const time = this.now();
    // A redrawn line (a progress bar's new state) replaces the line: a line of its own here.
    for (const piece of pieces) ring.pushPiece(time, stream, piece.bytes, piece.continued && !piece.redraw);
  }

  block(instance: Instance, stream: OutputStream, lines: Block): void {
    this.ring(instance.name).pushLines(this.now(), stream, lines.body, lines.head);
  }

  /** Up to `n` of the most recent lines of `names` together, oldest first. */
  last(names: readonly string[], n: number): NamedLine[] {
    const all: NamedLine[] = [];
    for (const name of names) for (const line of this.rings.get(name)?.last(n) ?? []) all.push({ name, line });
    // Stable: lines of one instance keep their order when their times are equal.
    if (names.length > 1) all.sort((a, b) => a.line.time - b.line.time);
    return all.slice(Math.max(0, all.length - n));
  }

  /** The ring of `name`, if it has printed anything. */
  get(name: string): LogRing | undefined {
    return this.rings.get(name);
  }

  /** Calls `watcher` for every ring made from now on (an instance's first line), before its first line is stored. */
  watch(watcher: (name: string, ring: LogRing) => void): () => void {
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  /** An instance scaled away: its history goes with it. */
  forget(name: string): void {
    this.rings.delete(name);
  }

  private ring(name: string): LogRing {
    let ring = this.rings.get(name);
    if (ring === undefined) {
      ring = new LogRing();
      this.rings.set(name, ring);
      for (const watcher of this.watchers) watcher(name, ring);
    }
    return ring;
  }
}
