import type { Instance, OutputStream } from '../domain.js';
import { SecondsClock } from './clock.js';
import { RESET, SYSTEM_STYLE, styleFor } from './colors.js';
import type { Format } from './format.js';
import type { Piece } from './lines.js';
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
  /** `line` as a latin1 string, for the block path. */
  text: string;
}

/**
 * `HH:MM:SS web.1 | text`. Prefixes are built once per instance (and again only when the
 * second changes); a chunk's lines are copied into one buffer with a single allocation.
 */
export class PrettyFormat implements Format {
  private readonly clock: SecondsClock;
  private readonly cache = new Map<string, Prefixes>();

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
    const text = Buffer.from(`${label} | ${off}`).toString('latin1');
    const built = { epoch: this.clock.epoch, line: Buffer.from(text, 'latin1'), continued: Buffer.from(`${label} + ${off}`), text };
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

  /**
   * The hot path: prefixing every line of a chunk is one native replaceAll over the chunk,
   * not a loop of small copies; the latin1 round trip keeps every byte as it was.
   */
  block(instance: Instance, _stream: OutputStream, lines: string): Buffer {
    const prefix = this.prefixes(instance.name, instance.color).text;
    let body = lines;
    if (body.includes('\r')) body = body.replaceAll('\r\n', '\n');
    if (body.includes('\x1b')) {
      // A child's colour codes must not bleed into the next prefix.
      body = body
        .split('\n')
        .map((line) => (line.includes('\x1b') ? line + RESET : line))
        .join('\n');
    }
    const text = prefix + body.replaceAll('\n', `\n${prefix}`);
    return Buffer.from(text.slice(0, text.length - prefix.length), 'latin1');
  }

  notice(notice: Notice): Buffer {
    const { line } = this.prefixes('system', 'system');
    return Buffer.concat([line, Buffer.from(`${notice.text}\n`)]);
  }
}
