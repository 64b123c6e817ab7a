import { describe, expect, it } from 'vitest';
import { LogBook } from '../../src/commands/log-book.js';
import type { Instance } from '../../src/domain.js';

const instance = (name: string): Instance => ({ name, type: name.split('.')[0] }) as unknown as Instance;
const piece = (text: string, extra: { continued?: boolean; redraw?: boolean } = {}) => ({
  bytes: Buffer.from(text),
  continued: false,
  redraw: false,
  open: false,
  ...extra,
});
const texts = (lines: { name: string; line: { text: Buffer; continued?: true } }[]): string[] =>
  lines.map(({ name, line }) => `${name}${line.continued ? ' +' : ''} ${line.text.toString()}`);

describe('LogBook: the rings behind tf logs', () => {
  it('stores pieces and blocks per instance, and merges the last N of several by time', () => {
    let now = 1;
    const book = new LogBook(() => now);
    book.pieces(instance('web.1'), 'output', [piece('a'), piece('b')]);
    now = 2;
    book.block(instance('worker.1'), 'output', { head: Buffer.from('he'), body: Buffer.from('ad\nx\n') });
    now = 3;
    book.pieces(instance('web.1'), 'output', [piece('c, continued', { continued: true })]);
    expect(texts(book.last(['web.1'], 10))).toEqual(['web.1 a', 'web.1 b', 'web.1 + c, continued']);
    expect(texts(book.last(['web.1', 'worker.1'], 4))).toEqual(['web.1 b', 'worker.1 head', 'worker.1 x', 'web.1 + c, continued']);
    expect(book.last(['nobody'], 5)).toEqual([]);
  });

  it('keeps a redrawn line as a line of its own, not as a continuation', () => {
    const book = new LogBook(() => 0);
    book.pieces(instance('web.1'), 'output', [piece('10%'), piece('50%', { continued: true, redraw: true })]);
    expect(texts(book.last(['web.1'], 5))).toEqual(['web.1 10%', 'web.1 50%']);
  });

  it('tells watchers of a new instance before its first line is stored, and forgets removed ones', () => {
    const book = new LogBook(() => 0);
    const seen: string[] = [];
    const unwatch = book.watch((name, ring) => {
      seen.push(name);
      const subscription = ring.subscribe(() => {});
      queueMicrotask(() => seen.push(...subscription.take().lines.map((l) => l.text.toString())));
    });
    book.pieces(instance('web.2'), 'output', [piece('first')]);
    unwatch();
    book.pieces(instance('web.3'), 'output', [piece('unseen')]);
    return Promise.resolve().then(() => {
      expect(seen).toEqual(['web.2', 'first']);
      book.forget('web.2');
      expect(book.get('web.2')).toBeUndefined();
      expect(book.last(['web.2'], 5)).toEqual([]);
    });
  });
});
