import type { Instance, OutputStream } from '../domain.js';
import { SecondsClock } from './clock.js';
import { RESET, SYSTEM_STYLE, styleFor } from './colors.js';
import type { BorrowedWrite, Format } from './format.js';
import type { Block, Piece } from './lines.js';
import { LinePrefixer, type PrefixEngine } from './prefixer.js';
import type { Notice } from './notices.js';

export interface PrettyOptions {
  readonly color: boolean;
  readonly timestamp: boolean;
  /** Width the names are padded to at first: the longest instance name (or "system"). */
  readonly width: number;
  readonly clock?: SecondsClock;
  /** What prefixes a flood's lines; by default WebAssembly where it runs, else JavaScript. */
  readonly engine?: () => PrefixEngine;
}

const ESC = 0x1b;
const NEWLINE = 0x0a;
const CR = 0x0d;
const RESET_BYTES = Buffer.from(RESET);
const NEWLINE_BYTES = Buffer.from('\n');

interface Prefixes {
  epoch: number;
  line: Buffer;
  continued: Buffer;
}

/**
 * `HH:MM:SS web.1 | text`. Prefixes are built once per instance (and again only when the
 * second changes); a chunk's lines are copied into one buffer with a single allocation.
 *
 * On a terminal, a partial line shown after a pause stays open (no newline) until more of it
 * comes or another line must be shown: its text is then appended, or, after a lone `\r` (a
 * progress bar), redrawn as `\r`, prefix, latest state, so the prefix stays visible.
 */
export class PrettyFormat implements Format {
  private readonly clock: SecondsClock;
  private readonly cache = new Map<string, Prefixes>();
  private readonly prefixer: LinePrefixer;
  /** The terminal line left open by a partial line: whose it is (instance and stream). */
  private open: string | undefined;
  /** Grows to a longer name (`tf scale worker=10` adds worker.10) and never shrinks: the columns stay aligned. */
  private width: number;

  constructor(private readonly options: PrettyOptions) {
    this.clock = options.clock ?? new SecondsClock();
    this.prefixer = new LinePrefixer(options.color, options.engine);
    this.width = options.width;
  }

  /** `color` is the type's palette index, or 'system'; the style string is built only on a rebuild. */
  private prefixes(name: string, color: number | 'system'): Prefixes {
    const time = this.options.timestamp ? this.clock.tick() : '';
    if (name.length > this.width) {
      this.width = name.length;
      this.cache.clear();
    }
    const cached = this.cache.get(name);
    if (cached !== undefined && (cached.epoch === this.clock.epoch || !this.options.timestamp)) return cached;
    const on = !this.options.color ? '' : color === 'system' ? SYSTEM_STYLE : styleFor(color);
    const off = this.options.color ? RESET : '';
    const label = `${on}${time}${name.padEnd(this.width)}`;
    const built = { epoch: this.clock.epoch, line: Buffer.from(`${label} | ${off}`), continued: Buffer.from(`${label} + ${off}`) };
    this.cache.set(name, built);
    return built;
  }

  lines(instance: Instance, stream: OutputStream, pieces: readonly Piece[], terminal = false): Buffer {
    const { line, continued } = this.prefixes(instance.name, instance.color);
    const key = `${instance.name}\0${stream}`;
    // Room for the most a piece can take: \r, prefix, text, reset, \n (and a \n ending another's line).
    let size = 1;
    for (const piece of pieces) size += 2 + line.length + piece.bytes.length + RESET_BYTES.length;
    const out = Buffer.allocUnsafe(size);
    let at = 0;
    let onLine = this.open === key;
    if (this.open !== undefined && !onLine) out[at++] = NEWLINE;
    for (const piece of pieces) {
      // A new line (no continuation) while this stream's line is open: the open line's newline came alone and
      // ended it without a piece of its own, so it is closed here.
      if (onLine && !piece.continued) {
        out[at++] = NEWLINE;
        onLine = false;
      }
      if (!onLine) {
        at += (piece.continued && !piece.redraw ? continued : line).copy(out, at);
      } else if (piece.redraw) {
        out[at++] = CR;
        at += line.copy(out, at);
      }
      at += piece.bytes.copy(out, at);
      // A child's colour codes must not bleed into the next prefix: in colour mode, a piece holding ESC gets a reset.
      if (this.options.color && piece.bytes.indexOf(ESC) !== -1) at += RESET_BYTES.copy(out, at);
      onLine = terminal && piece.open;
      if (!onLine) out[at++] = NEWLINE;
    }
    this.open = onLine ? key : undefined;
    return out.subarray(0, at);
  }

  /** The hot path: a chunk's complete lines, prefixed in bulk and batched (see prefixer.ts). */
  block(instance: Instance, _stream: OutputStream, lines: Block, write: BorrowedWrite): void {
    this.close(write);
    this.prefixer.prefix(this.prefixes(instance.name, instance.color).line, lines.head, lines.body, write);
  }

  flush(write: BorrowedWrite): void {
    this.prefixer.flush(write);
  }

  notice(notice: Notice): Buffer {
    const { line } = this.prefixes('system', 'system');
    const close = this.open === undefined ? '' : '\n';
    this.open = undefined;
    return Buffer.concat([Buffer.from(close), line, Buffer.from(`${notice.text}\n`)]);
  }

  /** Ends the open terminal line; the batch is empty then, as the open line was written after it. */
  private close(write: BorrowedWrite): void {
    if (this.open === undefined) return;
    this.open = undefined;
    write(NEWLINE_BYTES, () => undefined);
  }
}
