import type { OutputStream } from '../domain.js';

/** Longest line kept whole; a longer one is cut (it is a summary, the full line went to stdout). */
const MAX_LINE_CHARS = 500;

/**
 * The last few lines one instance printed, to show beside the line that says why it failed.
 * Each stream keeps its own unfinished line, so stdout and stderr (split mode) never join.
 */
export class RecentLines {
  private readonly kept: string[] = [];
  private readonly partial = new Map<OutputStream, string>();

  constructor(private readonly max: number) {}

  /** A chunk of output; it is lent, so only decoded text is kept. */
  push(stream: OutputStream, chunk: Buffer): void {
    const text = (this.partial.get(stream) ?? '') + chunk.toString('utf8');
    const parts = text.split('\n');
    const rest = parts.pop() ?? '';
    for (const line of parts.slice(-this.max)) this.keep(line);
    this.partial.set(stream, rest.length > MAX_LINE_CHARS ? rest.slice(-MAX_LINE_CHARS) : rest);
  }

  /** Oldest first, with any unfinished line last. */
  lines(): string[] {
    const pending = [...this.partial.values()].filter((p) => p !== '').map(clip);
    return [...this.kept, ...pending].slice(-this.max);
  }

  private keep(line: string): void {
    this.kept.push(clip(line));
    if (this.kept.length > this.max) this.kept.shift();
  }
}

function clip(line: string): string {
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
  return text.length > MAX_LINE_CHARS ? `${text.slice(0, MAX_LINE_CHARS)}...` : text;
}
