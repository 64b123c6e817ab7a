import type { Instance, OutputStream } from '../domain.js';
import { SecondsClock } from './clock.js';
import { RESET, SYSTEM_STYLE, styleFor } from './colors.js';
import type { BorrowedWrite, Format } from './format.js';
import type { Block, Piece } from './lines.js';
import { LinePrefixer } from './prefixer.js';
import type { Notice } from './notices.js';

export interface PrettyOptions {
  readonly color: boolean;
  readonly timestamp: boolean;
  /** Width the names are padded to: the longest instance name (or "system"). */
  readonly width: number;
  readonly clock?: SecondsClock;
}

const ESC = 0x1b;
const NEWLINE = 0x0a;
const RESET_BYTES = Buffer.from(RESET);

interface Prefixes {
  epoch: number;
  line: Buffer;
  continued: Buffer;
}

/**
 * `HH:MM:SS web.1 | text`. Prefixes are built once per instance (and again only when the
 * second changes); a chunk's lines are copied into one buffer with a single allocation.
 */
export class PrettyFormat implements Format {
  private readonly clock: SecondsClock;
  private readonly cache = new Map<string, Prefixes>();
  private readonly prefixer = new LinePrefixer();

  constructor(private readonly options: PrettyOptions) {
    this.clock = options.clock ?? new SecondsClock();
  }

  /** `color` is the type's palette index, or 'system'; the style string is built only on a rebuild. */
  private prefixes(name: string, color: number | 'system'): Prefixes {
    const time = this.options.timestamp ? this.clock.tick() : '';
    const cached = this.cache.get(name);
    if (cached !== undefined && (cached.epoch === this.clock.epoch || !this.options.timestamp)) return cached;
    const on = !this.options.color ? '' : color === 'system' ? SYSTEM_STYLE : styleFor(color);
    const off = this.options.color ? RESET : '';
    const label = `${on}${time}${name.padEnd(this.options.width)}`;
    const built = { epoch: this.clock.epoch, line: Buffer.from(`${label} | ${off}`), continued: Buffer.from(`${label} + ${off}`) };
    this.cache.set(name, built);
    return built;
  }

  lines(instance: Instance, _stream: OutputStream, pieces: readonly Piece[]): Buffer {
    const { line, continued } = this.prefixes(instance.name, instance.color);
    // A child's colour codes must not bleed into the next prefix: pieces holding ESC get a reset.
    const coloured = pieces.map((piece) => piece.bytes.indexOf(ESC) !== -1);
    let size = 0;
    pieces.forEach((piece, i) => {
      size += (piece.continued ? continued.length : line.length) + piece.bytes.length + 1 + (coloured[i] ? RESET_BYTES.length : 0);
    });
    const out = Buffer.allocUnsafe(size);
    let at = 0;
    pieces.forEach((piece, i) => {
      at += (piece.continued ? continued : line).copy(out, at);
      at += piece.bytes.copy(out, at);
      if (coloured[i]) at += RESET_BYTES.copy(out, at);
      out[at++] = NEWLINE;
    });
    return out;
  }

  /** The hot path: a chunk's complete lines, prefixed in bulk and staged (see prefixer.ts). */
  block(instance: Instance, _stream: OutputStream, lines: Block, write: BorrowedWrite): void {
    this.prefixer.prefix(this.prefixes(instance.name, instance.color).line, lines.head, lines.body, write);
  }

  flush(write: BorrowedWrite): void {
    this.prefixer.flush(write);
  }

  notice(notice: Notice): Buffer {
    const { line } = this.prefixes('system', 'system');
    return Buffer.concat([line, Buffer.from(`${notice.text}\n`)]);
  }
}
