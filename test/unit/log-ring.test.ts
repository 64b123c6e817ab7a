import { describe, expect, it } from 'vitest';
import { LogRing, RING_MAX_BYTES, RING_MAX_LINES, type LogLine } from '../../src/supervisor/log-ring.js';

const texts = (lines: readonly LogLine[]): string[] => lines.map((l) => l.text.toString());
const block = (...lines: string[]): Buffer => Buffer.from(lines.map((l) => `${l}\n`).join(''));

describe('LogRing: storing', () => {
  it('splits a chunk of complete lines into its lines only when read, with \\r\\n ends and empty lines', () => {
    const ring = new LogRing();
    ring.pushLines(1, 'stdout', Buffer.from('one\r\n\ntwo\nthree\n'));
    expect(ring.size.chunks).toBe(1);
    expect(texts(ring.last(10))).toEqual(['one', '', 'two', 'three']);
    expect(texts(ring.last(2))).toEqual(['two', 'three']);
    expect(ring.last(10).every((l) => l.time === 1 && l.stream === 'stdout')).toBe(true);
  });

  it('joins the held head of a line to the first line of the block', () => {
    const ring = new LogRing();
    ring.pushLines(5, 'stderr', Buffer.from('lo world\nbye\n'), Buffer.from('hel'));
    expect(texts(ring.last(5))).toEqual(['hello world', 'bye']);
    expect(ring.last(5)[0]?.stream).toBe('stderr');
  });

  it('keeps pieces with their continued mark, in order with blocks', () => {
    const ring = new LogRing();
    ring.pushLines(1, 'stdout', block('a', 'b'));
    ring.pushPiece(2, 'stdout', Buffer.from('partial'));
    ring.pushPiece(3, 'stdout', Buffer.from(' rest'), true);
    ring.pushLines(4, 'stdout', block('c'));
    const lines = ring.last(100);
    expect(texts(lines)).toEqual(['a', 'b', 'partial', ' rest', 'c']);
    expect(lines.map((l) => l.continued === true)).toEqual([false, false, false, true, false]);
    expect(lines.map((l) => l.time)).toEqual([1, 1, 2, 3, 4]);
  });

  it('copies what it is fed: the producer reusing its buffer changes nothing stored', () => {
    const ring = new LogRing();
    const lent = Buffer.from('first\n');
    ring.pushLines(1, 'stdout', lent);
    const piece = Buffer.from('second');
    ring.pushPiece(2, 'stdout', piece);
    lent.fill(0x78);
    piece.fill(0x78);
    expect(texts(ring.last(2))).toEqual(['first', 'second']);
  });
});

describe('LogRing: bounds', () => {
  it(`keeps the last ${RING_MAX_LINES} lines whatever the chunking`, () => {
    const ring = new LogRing();
    for (let i = 0; i < 1500; i += 3) ring.pushLines(i, 'stdout', block(`l${i}`, `l${i + 1}`, `l${i + 2}`));
    for (let i = 1500; i < 1800; i++) ring.pushPiece(i, 'stdout', Buffer.from(`l${i}`));
    const lines = ring.last(5000);
    expect(lines.length).toBe(RING_MAX_LINES);
    expect(lines[0]?.text.toString()).toBe('l800');
    expect(lines.at(-1)?.text.toString()).toBe('l1799');
  });

  it(`keeps at most ${RING_MAX_BYTES / 1024} KiB of text, trimming the oldest chunk at a line boundary`, () => {
    const ring = new LogRing();
    const line = 'x'.repeat(99);
    // 100 bytes per line with its \n, 100 lines per chunk: 10,000 bytes per chunk.
    for (let c = 0; c < 40; c++) ring.pushLines(c, 'stdout', block(...Array.from({ length: 100 }, () => `${c}:${line}`.slice(0, 99))));
    expect(ring.size.bytes).toBeLessThanOrEqual(RING_MAX_BYTES);
    expect(ring.size.bytes).toBeGreaterThan(RING_MAX_BYTES - 100);
    const lines = ring.last(10_000);
    // 1,000 lines of 100 bytes fit in 256 KiB: the line bound wins here.
    expect(lines.length).toBe(RING_MAX_LINES);
    expect(lines.every((l) => l.text.length === 99)).toBe(true);
  });

  it('with long lines, the byte bound wins and no stored line is torn', () => {
    const ring = new LogRing({ maxLines: 1000, maxBytes: 1000 });
    for (let i = 0; i < 30; i++)
      ring.pushLines(i, 'stdout', block(`${String(i).padStart(2, '0')}${'y'.repeat(97)}`, `${String(i).padStart(2, '0')}${'z'.repeat(97)}`));
    expect(ring.size.bytes).toBeLessThanOrEqual(1000);
    const lines = ring.last(100);
    expect(lines.length).toBe(10);
    expect(lines.every((l) => l.text.length === 99)).toBe(true);
    expect(texts(lines).at(-1)).toMatch(/^29z+$/);
  });

  it('a single chunk larger than the byte bound keeps its newest whole lines', () => {
    const ring = new LogRing({ maxLines: 1000, maxBytes: 50 });
    ring.pushLines(1, 'stdout', block(...Array.from({ length: 20 }, (_, i) => `line-${String(i).padStart(3, '0')}`)));
    expect(texts(ring.last(100))).toEqual(['line-015', 'line-016', 'line-017', 'line-018', 'line-019']);
  });

  it('holds a bounded number of records even for empty lines (pieces of no bytes)', () => {
    const ring = new LogRing();
    for (let i = 0; i < 5000; i++) ring.pushPiece(i, 'stdout', Buffer.alloc(0));
    expect(ring.size.chunks).toBe(RING_MAX_LINES);
    expect(ring.last(5000).length).toBe(RING_MAX_LINES);
  });
});

describe('LogRing: following', () => {
  it('delivers new lines in order and calls onReadable once per empty-to-ready turn', () => {
    const ring = new LogRing();
    ring.pushLines(0, 'stdout', block('before'));
    let calls = 0;
    const sub = ring.subscribe(() => calls++);
    ring.pushLines(1, 'stdout', block('a', 'b'));
    ring.pushPiece(2, 'stderr', Buffer.from('c'));
    expect(calls).toBe(1);
    const taken = sub.take();
    expect(texts(taken.lines)).toEqual(['a', 'b', 'c']);
    expect(taken.dropped).toBe(0);
    ring.pushLines(3, 'stdout', block('d'));
    expect(calls).toBe(2);
    expect(texts(sub.take().lines)).toEqual(['d']);
  });

  it('a slow subscriber drops lines and counts them, after the lines it got, and the ring keeps everything', () => {
    const ring = new LogRing();
    const sub = ring.subscribe(() => {}, { maxEntries: 3, maxBytes: 1 << 20 });
    for (let i = 0; i < 10; i++) ring.pushLines(i, 'stdout', block(`${i}a`, `${i}b`));
    const first = sub.take();
    expect(texts(first.lines)).toEqual(['0a', '0b', '1a', '1b', '2a', '2b']);
    expect(first.dropped).toBe(14);
    ring.pushPiece(10, 'stdout', Buffer.from('after'));
    expect(sub.take()).toMatchObject({ dropped: 0 });
    expect(ring.last(100).length).toBe(21);
  });

  it('the byte bound of a subscriber applies too', () => {
    const ring = new LogRing();
    const sub = ring.subscribe(() => {}, { maxEntries: 1000, maxBytes: 10 });
    ring.pushLines(1, 'stdout', block('12345'));
    ring.pushLines(2, 'stdout', block('67890', 'abc'));
    expect(sub.take()).toMatchObject({ dropped: 2 });
  });

  it('lines a subscriber holds survive the ring trimming the same chunk', () => {
    const ring = new LogRing({ maxLines: 1000, maxBytes: 12 });
    const sub = ring.subscribe(() => {});
    ring.pushLines(1, 'stdout', block('aaaa', 'bbbb'));
    ring.pushLines(2, 'stdout', block('cccc'));
    expect(texts(ring.last(10))).toEqual(['bbbb', 'cccc']);
    expect(texts(sub.take().lines)).toEqual(['aaaa', 'bbbb', 'cccc']);
  });

  it('a closed subscription gets nothing more and costs the producer nothing', () => {
    const ring = new LogRing();
    let calls = 0;
    const sub = ring.subscribe(() => calls++);
    sub.close();
    sub.close();
    ring.pushLines(1, 'stdout', block('x'));
    expect(calls).toBe(0);
    expect(sub.take().lines).toEqual([]);
  });
});

describe('LogRing: its circular store', () => {
  /** The ring's rules on plain buffers, one per record: what the store must agree with. */
  class Reference {
    records: { kind: 'lines' | 'piece'; bytes: Buffer; continued: boolean; time: number }[] = [];
    constructor(private readonly limits: { maxLines: number; maxBytes: number }) {}
    get bytes(): number {
      return this.records.reduce((sum, r) => sum + r.bytes.length, 0);
    }
    push(kind: 'lines' | 'piece', time: number, bytes: Buffer, continued = false): void {
      this.records.push({ kind, bytes: Buffer.from(bytes), continued, time });
      while (this.records.length > this.limits.maxLines) this.records.shift();
      while (this.bytes > this.limits.maxBytes) {
        const oldest = this.records[0] as (typeof this.records)[number];
        const excess = this.bytes - this.limits.maxBytes;
        const cut = oldest.bytes.indexOf(0x0a, excess - 1) + 1;
        if (oldest.kind === 'piece' || oldest.bytes.length <= excess || cut <= 0 || cut >= oldest.bytes.length) this.records.shift();
        else oldest.bytes = oldest.bytes.subarray(cut);
      }
    }
    /** The newest lines, at most maxLines of them (as `last` gives them). */
    lines(): string[] {
      return this.records
        .flatMap((r) =>
          r.kind === 'piece'
            ? [`${r.time}:${r.bytes}`]
            : r.bytes
                .toString()
                .slice(0, -1)
                .split('\n')
                .map((l) => `${r.time}:${l}`),
        )
        .slice(-this.limits.maxLines);
    }
  }

  const random = (seed: number) => () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };

  it('keeps what a buffer per record would keep, over 3,000 random pushes that wrap the store many times', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const next = random(seed);
      const limits = { maxLines: 5 + Math.floor(next() * 40), maxBytes: 40 + Math.floor(next() * 400) };
      const ring = new LogRing(limits);
      const reference = new Reference(limits);
      let n = 0;
      const line = () => `${n++}${'abcdefghij'.slice(0, Math.floor(next() * 10))}`;
      for (let time = 0; time < 600; time++) {
        if (next() < 0.3) {
          const text = Buffer.from(line());
          const continued = next() < 0.5;
          ring.pushPiece(time, 'output', text, continued);
          reference.push('piece', time, text, continued);
        } else {
          const all = Buffer.from(Array.from({ length: 1 + Math.floor(next() * 12) }, () => `${line()}\n`).join(''));
          const split = next() < 0.3 ? Math.floor(next() * all.indexOf(0x0a)) : 0;
          if (all.length > limits.maxBytes) continue;
          ring.pushLines(time, 'output', all.subarray(split), split > 0 ? all.subarray(0, split) : undefined);
          reference.push('lines', time, all);
        }
        const got = ring.last(1000).map((l) => `${l.time}:${l.text}`);
        expect(got, `seed ${seed}, push ${time}`).toEqual(reference.lines());
        expect(ring.size.bytes).toBe(reference.bytes);
      }
    }
  });

  it('a follower gets its own copy: the store wrapping over the same bytes changes nothing it holds', () => {
    const ring = new LogRing({ maxLines: 1000, maxBytes: 64 });
    const sub = ring.subscribe(() => {}, { maxEntries: 1000, maxBytes: 1 << 20 });
    const sent: string[] = [];
    for (let i = 0; i < 50; i++) {
      sent.push(`line-${i}`);
      ring.pushLines(i, 'stdout', block(`line-${i}`));
    }
    expect(texts(sub.take().lines)).toEqual(sent);
  });
});
