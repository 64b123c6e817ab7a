import { describe, expect, it } from 'vitest';
import { LineSplitter, type Piece } from '../../src/output/lines.js';

/** Feeds chunks and returns the pieces as [text, continued] pairs; `flush` adds a final EOF flush. */
function split(chunks: (string | Buffer)[], options: { max?: number; idleAfter?: number[]; eof?: boolean } = {}): [string, boolean][] {
  const splitter = new LineSplitter(options.max);
  const out: Piece[] = [];
  chunks.forEach((chunk, i) => {
    splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk, out);
    if (options.idleAfter?.includes(i)) splitter.flush(out);
  });
  if (options.eof !== false) splitter.flush(out, true);
  return out.map((p) => [p.bytes.toString('latin1'), p.continued]);
}

const euro = Buffer.from('€'); // e2 82 ac

describe('LineSplitter', () => {
  it.each([
    // [chunks, expected lines]
    [['a\nb\n'], ['a', 'b']], // several lines in one chunk
    [['ab', 'c\n'], ['abc']], // chunk boundary inside a line
    [
      ['a\r', '\nb\r\n'],
      ['a', 'b'],
    ], // chunk boundary inside \r\n
    [['\n\n'], ['', '']], // empty lines are kept
    [['a\n\nb\n'], ['a', '', 'b']],
    [['last'], ['last']], // unterminated line flushed at EOF
    [['x\r'], ['x']], // a lone trailing \r at EOF is not text
  ])('splits %j', (chunks, lines) => {
    expect(split(chunks).map(([text]) => text)).toEqual(lines);
  });

  it('keeps a multi-byte character split across chunks intact', () => {
    const pieces = split([Buffer.concat([Buffer.from('a'), euro.subarray(0, 1)]), Buffer.concat([euro.subarray(1), Buffer.from('b\n')])]);
    expect(pieces).toEqual([[Buffer.from('a€b').toString('latin1'), false]]);
  });

  it('passes invalid UTF-8 through unchanged', () => {
    expect(split([Buffer.from([0xff, 0xfe, 0x0a, 0xc3, 0x0a])])).toEqual([
      ['\xff\xfe', false],
      ['\xc3', false],
    ]);
  });

  it('shows a partial line on an idle flush and marks what follows as its continuation', () => {
    expect(split(['prompt> ', 'answer\n', 'next\n'], { idleAfter: [0] })).toEqual([
      ['prompt> ', false],
      ['answer', true],
      ['next', false],
    ]);
  });

  it('does not emit an empty continuation when only the newline (or \\r\\n) follows an idle flush', () => {
    expect(split(['abc', '\n', 'd\n'], { idleAfter: [0] })).toEqual([
      ['abc', false],
      ['d', false],
    ]);
    expect(split(['abc\r', '\n'], { idleAfter: [0] })).toEqual([['abc', false]]);
  });

  it('holds back an unfinished character on an idle flush', () => {
    const pieces = split([Buffer.concat([Buffer.from('ab'), euro.subarray(0, 2)]), Buffer.concat([euro.subarray(2), Buffer.from('\n')])], { idleAfter: [0] });
    expect(pieces).toEqual([
      ['ab', false],
      [euro.toString('latin1'), true],
    ]);
  });

  it('cuts a line longer than the limit into marked pieces, never inside a character', () => {
    const line = `${'x'.repeat(9)}€${'y'.repeat(5)}`; // the € straddles the 10-byte limit
    expect(split([`${line}\nz\n`], { max: 10 })).toEqual([
      ['x'.repeat(9), false],
      [`${euro.toString('latin1')}yyyyy`, true],
      ['z', false],
    ]);
  });

  it('splits a 1 MB line in 64 KiB pieces without buffering it whole', () => {
    const splitter = new LineSplitter();
    const out: Piece[] = [];
    const chunk = Buffer.alloc(16 * 1024, 0x61);
    for (let i = 0; i < 64; i++) splitter.push(chunk, out);
    splitter.push(Buffer.from('\n'), out);
    expect(out.length).toBe(16);
    expect(out.every((p) => p.bytes.length === 64 * 1024)).toBe(true);
    expect(out.map((p) => p.continued)).toEqual([false, ...Array(15).fill(true)]);
    expect(splitter.hasPending).toBe(false);
  });

  it('keeps only the text after the last lone \\r of a line (a progress bar), whatever the chunking', () => {
    const text = 'get 10%\rget 50%\rget 100%\nplain\r\n\r\rx\r\nend\r';
    const expected = [
      ['get 100%', false],
      ['plain', false],
      ['x', false],
      ['end', false],
    ];
    const bytes = Buffer.from(text);
    for (let size = 1; size <= bytes.length; size++) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      expect(split(chunks), `chunks of ${size}`).toEqual(expected);
    }
  });

  it('marks the state after a lone \\r as a redraw of a line already shown, and holds only that state', () => {
    const splitter = new LineSplitter();
    const out: Piece[] = [];
    splitter.push(Buffer.from('10%'), out);
    splitter.flush(out);
    expect(splitter.redrawing).toBe(false);
    for (let i = 0; i < 1000; i++) splitter.push(Buffer.from(`\r${'#'.repeat(100)} ${i}`), out);
    expect(splitter.redrawing).toBe(true);
    splitter.flush(out);
    splitter.push(Buffer.from('\rdone\nnext\n'), out);
    expect(out.map((p) => [p.bytes.toString(), p.continued, p.redraw, p.open])).toEqual([
      ['10%', false, false, true],
      [`${'#'.repeat(100)} 999`, true, true, true],
      ['done', true, true, false],
      ['next', false, false, false],
    ]);
  });

  it('sends a chunk with a lone \\r among its lines down the per-line path, and one with only \\r\\n the bulk path', () => {
    const bulk = (text: string): boolean => new LineSplitter().pushBlock(Buffer.from(text), []) !== undefined;
    expect(bulk('a\r\nb\r\n')).toBe(true);
    expect(bulk('a\rb\n')).toBe(false);
    expect(bulk('a\nb\rc')).toBe(true); // the \r is in the held partial line
    const held = new LineSplitter();
    const out: Piece[] = [];
    expect(held.pushBlock(Buffer.from('a\nb\r'), out)).toBeDefined();
    expect(held.pushBlock(Buffer.from('c\n'), out)).toBeUndefined(); // b\r then c: a lone \r
    expect(out.map((p) => p.bytes.toString())).toEqual(['c']);
  });

  it('gives the same lines whatever the chunking', () => {
    const text = 'alpha\r\nbeta\n\ngamma €uro\nδέλτα\n';
    const expected = split([text]);
    const bytes = Buffer.from(text);
    for (let size = 1; size <= 7; size++) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      expect(split(chunks), `chunks of ${size}`).toEqual(expected);
    }
  });
});
