import pino, { type Logger } from 'pino';
import type { Instance, OutputStream } from '../domain.js';
import type { Format } from './format.js';
import type { Piece } from './lines.js';
import type { Notice } from './notices.js';

/**
 * One pino object per line: `{"level":30,"time":...,"instance":"web.1","type":"web",
 * "stream":"stdout","msg":"text"}`, so pino-pretty and log shippers read it as is. Each
 * (instance, stream) gets a pino child whose bindings are serialised once, not per line.
 */
export class JsonFormat implements Format {
  private readonly batch: string[] = [];
  private readonly root: Logger;
  private readonly children = new Map<string, Logger>();

  /** @param now the time of a line in ms: when it was read (`tf logs` passes start's time for it). */
  constructor(now: () => number = Date.now) {
    const sink = { write: (line: string) => void this.batch.push(line) };
    this.root = pino({ base: null, level: 'info', timestamp: () => `,"time":${now()}` }, sink);
  }

  private child(instance: Instance | undefined, stream: OutputStream | 'system'): Logger {
    const name = instance?.name ?? 'system';
    const key = `${name}\0${stream}`;
    let logger = this.children.get(key);
    if (logger === undefined) {
      logger = this.root.child({ instance: name, type: instance?.type ?? 'system', stream });
      this.children.set(key, logger);
    }
    return logger;
  }

  private drain(): string {
    const text = this.batch.join('');
    this.batch.length = 0;
    return text;
  }

  lines(instance: Instance, stream: OutputStream, pieces: readonly Piece[]): string {
    const logger = this.child(instance, stream);
    for (const piece of pieces) {
      // JSON strings are Unicode: bytes that are not valid UTF-8 become U+FFFD here.
      const text = piece.bytes.toString('utf8');
      if (piece.continued) logger.info({ continued: true }, text);
      else logger.info(text);
    }
    return this.drain();
  }

  notice(notice: Notice): string {
    this.child(notice.instance, 'system')[notice.level](notice.fields, notice.text);
    return this.drain();
  }
}
