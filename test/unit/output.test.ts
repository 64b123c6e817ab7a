import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Instance } from '../../src/domain.js';
import { IDLE_FLUSH_MS, Output } from '../../src/output/output.js';
import { PrettyFormat } from '../../src/output/pretty.js';
import { Writer } from '../../src/output/writer.js';
import { testInstance } from '../helpers/instance.js';

const web: Instance = testInstance('web.1');

/** The real hot path (Output + PrettyFormat + Writer) writing into memory. */
function pipeline(options: { color?: boolean; terminal?: boolean } = {}) {
  const written: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      written.push(Buffer.from(chunk)); // a stream that has called back is done with the bytes
      callback();
    },
  });
  if (options.terminal === true) Object.assign(sink, { isTTY: true }); // as Node marks a terminal's stream
  const format = new PrettyFormat({ color: options.color ?? false, timestamp: false, width: 5 });
  const output = new Output(format, new Writer(sink, { onBlocked() {}, onDrained() {}, onClosed() {} }));
  return {
    feed: (chunk: Buffer) => output.handle({ kind: 'output', instance: web, stream: 'stdout', chunk }),
    end: () => output.handle({ kind: 'output-end', instance: web, stream: 'stdout' }),
    /** The end of a turn of the event loop: what the format held back is written. */
    turn: () => output.flush(),
    notice: () =>
      output.handle({
        kind: 'exited',
        instance: web,
        pid: 1,
        exit: { code: 0, signal: null, signalDescription: undefined, forced: false, stoppedByTf: false, durationMs: 5 },
      }),
    bytes: () => Buffer.concat(written),
    writes: () => written.length,
  };
}

function run(chunks: Buffer[], options: { color?: boolean } = {}): Buffer {
  const p = pipeline(options);
  for (const chunk of chunks) p.feed(chunk);
  p.end();
  p.turn();
  return p.bytes();
}

const chunked = (data: Buffer, size: number): Buffer[] => {
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) chunks.push(data.subarray(i, i + size));
  return chunks;
};

describe('output hot path (split, prefix, write)', () => {
  const text = Buffer.concat([Buffer.from('alpha\r\nbeta\n\nγάμμα €\n'), Buffer.from([0xff, 0xc3, 0x0a]), Buffer.from('\x1b[31mred\nlast')]);
  const expected = Buffer.concat([
    Buffer.from('web.1 | alpha\nweb.1 | beta\nweb.1 | \nweb.1 | γάμμα €\nweb.1 | '),
    Buffer.from([0xff, 0xc3]),
    Buffer.from('\nweb.1 | \x1b[31mred\nweb.1 | last\n'),
  ]);

  it("formats a whole chunk exactly: CRLF, empty line, multi-byte and invalid bytes, a child's colour, last line at EOF", () => {
    expect(run([text]).toString('latin1')).toBe(expected.toString('latin1'));
  });

  it("resets a child's colour after its line in colour mode only, on both paths", () => {
    const colours = Buffer.from(`${'\x1b[32mgreen\nplain\n'.repeat(500)}`);
    const plain = run([colours]).toString('latin1');
    expect(plain).toBe('web.1 | \x1b[32mgreen\nweb.1 | plain\n'.repeat(500));
    expect(run(chunked(colours, 1)).toString('latin1')).toBe(plain);
    const coloured = run([colours], { color: true }).toString('latin1');
    expect(coloured).toBe('\x1b[36mweb.1 | \x1b[0m\x1b[32mgreen\x1b[0m\n\x1b[36mweb.1 | \x1b[0mplain\n'.repeat(500));
    expect(run(chunked(colours, 1), { color: true }).toString('latin1')).toBe(coloured);
  });

  it.each([1, 2, 3, 5, 7, 64])('gives the same bytes with chunks of %i bytes (boundaries inside lines, \\r\\n and characters)', (size) => {
    expect(run(chunked(text, size)).toString('latin1')).toBe(expected.toString('latin1'));
  });

  it('passes a 1 MB line in 64 KiB pieces, the first marked | and the rest +', () => {
    const line = Buffer.alloc(1024 * 1024, 0x61);
    const out = run([...chunked(line, 65536), Buffer.from('\nnext\n')])
      .toString('latin1')
      .split('\n');
    expect(out.slice(0, 16).map((l) => l.slice(0, 8))).toEqual(['web.1 | ', ...Array(15).fill('web.1 + ')]);
    expect(out.slice(0, 16).every((l) => l.length === 8 + 65536)).toBe(true);
    expect(out.slice(16)).toEqual(['web.1 | next', '']);
  });

  it.each([4096, 4099, 10_000, 65_536])('gives the same bytes through the bulk path with chunks of %i bytes', (size) => {
    const lines = Array.from(
      { length: 3000 },
      (_, i) => `${['', 'plain', 'crlf', '\x1b[32mgreen', 'γάμμα €', 'x'.repeat(i % 97)][i % 6]} ${i}${i % 6 === 2 ? '\r' : ''}`,
    );
    const bulk = Buffer.from(`${lines.join('\n')}\n`);
    expect(run(chunked(bulk, size)).equals(run(chunked(bulk, 1)))).toBe(true);
  });

  it('holds a flood back only until the next timer turn, and writes it in one go', async () => {
    const p = pipeline();
    const block = Buffer.from('x'.repeat(99).concat('\n').repeat(100));
    p.feed(block);
    p.feed(block);
    expect(p.writes()).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 2));
    expect(p.writes()).toBe(1);
    expect(p.bytes().toString()).toBe(`web.1 | ${'x'.repeat(99)}\n`.repeat(200));
  });

  it('never lets a notice or a line by line write pass what is held back', () => {
    const p = pipeline();
    p.feed(Buffer.from('bulk\n'.repeat(1000)));
    p.notice();
    p.feed(Buffer.from('small\n'));
    // The notice's "system" widened the name column (width 5 here).
    expect(p.bytes().toString()).toBe(`${'web.1 | bulk\n'.repeat(1000)}system | web.1 exited with code 0\nweb.1  | small\n`);
  });

  it('writes the notices of one turn in one write, before any line that follows them', () => {
    const p = pipeline();
    p.notice();
    p.notice();
    expect(p.writes()).toBe(0);
    p.feed(Buffer.from('small\n'));
    expect(p.writes()).toBe(2);
    expect(p.bytes().toString()).toBe(`${'system | web.1 exited with code 0\n'.repeat(2)}web.1  | small\n`);
    p.notice();
    p.turn();
    expect(p.writes()).toBe(3);
  });

  it('keeps many short lines in one chunk, in order', () => {
    const lines = Array.from({ length: 5000 }, (_, i) => `line ${i}`);
    const out = run(chunked(Buffer.from(`${lines.join('\n')}\n`), 65536)).toString('latin1');
    expect(out).toBe(lines.map((l) => `web.1 | ${l}\n`).join(''));
  });
});

describe('partial lines', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('shows a partial line after a quiet period and continues it with +', async () => {
    const p = pipeline();
    p.feed(Buffer.from('prompt> '));
    await vi.advanceTimersByTimeAsync(IDLE_FLUSH_MS - 1);
    expect(p.bytes().toString()).toBe('');
    // Quiet is noticed at IDLE_FLUSH_MS; the line is shown on the next timer turn, after a read.
    await vi.advanceTimersByTimeAsync(2);
    expect(p.bytes().toString()).toBe('web.1 | prompt> \n');
    p.feed(Buffer.from('yes\nnext\n'));
    expect(p.bytes().toString()).toBe('web.1 | prompt> \nweb.1 + yes\nweb.1 | next\n');
  });

  it('does not tear a line that is still arriving', async () => {
    const p = pipeline();
    for (let i = 0; i < 10; i++) {
      p.feed(Buffer.from('abc'));
      await vi.advanceTimersByTimeAsync(IDLE_FLUSH_MS - 10);
    }
    expect(p.bytes().toString()).toBe('');
    p.feed(Buffer.from('\n'));
    expect(p.bytes().toString()).toBe(`web.1 | ${'abc'.repeat(10)}\n`);
  });

  it('gives the cut of a large (block-buffered) chunk a second to complete before showing it', async () => {
    const p = pipeline();
    const bulk = `${'x'.repeat(99)}\n`.repeat(50);
    p.feed(Buffer.from(`${bulk}half a li`));
    p.turn();
    const shown = p.bytes().toString();
    expect(shown).toBe(`web.1 | ${'x'.repeat(99)}\n`.repeat(50));
    await vi.advanceTimersByTimeAsync(500);
    expect(p.bytes().toString(), 'a starved producer is not a prompt').toBe(shown);
    await vi.advanceTimersByTimeAsync(550);
    expect(p.bytes().toString()).toBe(`${shown}web.1 | half a li\n`);
  });

  it('in a pipe, shows a progress bar once, in its last state, whatever the pauses', async () => {
    const p = pipeline();
    p.feed(Buffer.from('get 0%'));
    await vi.advanceTimersByTimeAsync(IDLE_FLUSH_MS + 1);
    expect(p.bytes().toString()).toBe('web.1 | get 0%\n');
    for (let i = 1; i <= 30; i++) {
      p.feed(Buffer.from(`\rget ${i}%`));
      await vi.advanceTimersByTimeAsync(i % 3 === 0 ? 3 * IDLE_FLUSH_MS : 10);
    }
    expect(p.bytes().toString(), 'no update is a line of its own').toBe('web.1 | get 0%\n');
    p.feed(Buffer.from('\rdone\nnext\n'));
    expect(p.bytes().toString()).toBe('web.1 | get 0%\nweb.1 | done\nweb.1 | next\n');
  });

  it('on a terminal, redraws a progress bar in place with its prefix, and ends it with the line', async () => {
    const p = pipeline({ terminal: true });
    p.feed(Buffer.from('get 0%'));
    await vi.advanceTimersByTimeAsync(IDLE_FLUSH_MS + 1);
    expect(p.bytes().toString()).toBe('web.1 | get 0%');
    p.feed(Buffer.from('\rget 10%'));
    await vi.advanceTimersByTimeAsync(IDLE_FLUSH_MS + 1);
    p.feed(Buffer.from(' ...\rget 20%\r'));
    await vi.advanceTimersByTimeAsync(IDLE_FLUSH_MS + 1);
    expect(p.bytes().toString()).toBe('web.1 | get 0%\rweb.1 | get 10%\rweb.1 | get 20%');
    p.feed(Buffer.from('\rdone\n'));
    expect(p.bytes().toString()).toBe('web.1 | get 0%\rweb.1 | get 10%\rweb.1 | get 20%\rweb.1 | done\n');
    p.feed(Buffer.from('prompt> '));
    await vi.advanceTimersByTimeAsync(IDLE_FLUSH_MS + 1);
    p.notice();
    p.turn();
    expect(p.bytes().toString()).toMatch(/done\nweb\.1 \| prompt> \nsystem \| web\.1 exited with code 0\n$/);
  });

  it('on a terminal, ends a shown partial line when its newline comes alone, and starts the next line with a prefix', async () => {
    const p = pipeline({ terminal: true });
    p.feed(Buffer.from('\rA 100%'));
    await vi.advanceTimersByTimeAsync(IDLE_FLUSH_MS + 1);
    p.feed(Buffer.from('\n'));
    p.feed(Buffer.from('next line\n'));
    p.feed(Buffer.from('prompt> '));
    await vi.advanceTimersByTimeAsync(IDLE_FLUSH_MS + 1);
    p.feed(Buffer.from('\n'));
    await vi.advanceTimersByTimeAsync(IDLE_FLUSH_MS + 1);
    p.feed(Buffer.from('after\n'));
    expect(p.bytes().toString()).toBe('web.1 | A 100%\nweb.1 | next line\nweb.1 | prompt> \nweb.1 | after\n');
  });

  it('shows a line that keeps growing for a second (a progress bar) without waiting for quiet', async () => {
    const p = pipeline();
    for (let i = 0; i < 30; i++) {
      p.feed(Buffer.from('.'));
      await vi.advanceTimersByTimeAsync(40);
    }
    expect(p.bytes().toString()).toMatch(/^web\.1 \| \.{20,}\n$/);
  });
});

describe('Writer.writeBorrowed (bytes the caller reuses)', () => {
  const hooks = { onBlocked() {}, onDrained() {}, onClosed() {} };

  it('reports backpressure only when bytes are left waiting, not for every chunk over the high-water mark', () => {
    const big = Buffer.alloc(64 * 1024, 0x61);
    let blocked = 0;
    const counting = { ...hooks, onBlocked: () => void blocked++ };
    new Writer(new Writable({ write: (_c, _e, done) => done() }), counting).write(big);
    expect(blocked).toBe(0);
    new Writer(new Writable({ write: () => undefined }), counting).write(big);
    expect(blocked).toBe(1);
  });

  it('hands bytes to a stream that takes them at once, and reports them free to reuse', () => {
    const seen: Buffer[] = [];
    const writer = new Writer(new Writable({ write: (chunk: Buffer, _e, done) => (seen.push(Buffer.from(chunk)), done()) }), hooks);
    const bytes = Buffer.from('one\n');
    expect(writer.writeBorrowed(bytes, () => undefined)).toBe(false);
    bytes.write('two\n');
    expect(writer.writeBorrowed(bytes, () => undefined)).toBe(false);
    expect(Buffer.concat(seen).toString()).toBe('one\ntwo\n');
  });

  it('reports bytes a busy stream kept, and copies what it would only queue', async () => {
    const pending: { chunk: Buffer; done: () => void }[] = [];
    const writer = new Writer(new Writable({ write: (chunk: Buffer, _e, done) => void pending.push({ chunk, done }) }), hooks);
    const first = Buffer.from('first\n');
    let released = false;
    expect(writer.writeBorrowed(first, () => (released = true))).toBe(true); // the stream holds `first` itself
    const second = Buffer.from('second\n');
    expect(writer.writeBorrowed(second, () => undefined)).toBe(false); // queued as a copy
    second.write('XXXXXX\n');
    expect(released).toBe(false);
    const written: string[] = [];
    while (pending.length > 0) {
      const next = pending.shift() as { chunk: Buffer; done: () => void };
      written.push(next.chunk.toString());
      next.done();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(written.join('')).toBe('first\nsecond\n');
    expect(released).toBe(true);
  });
});

describe('Output with a blocked stdout (a slow reader)', () => {
  it('keeps what a turn staged while stdout is blocked, and writes it on the drain, in order', async () => {
    const pending: { chunk: Buffer; done: () => void }[] = [];
    const seen: Buffer[] = [];
    const sink = new Writable({
      highWaterMark: 1024,
      write: (chunk: Buffer, _e, done) => void pending.push({ chunk, done }),
    });
    let output!: Output;
    const writer = new Writer(sink, { onBlocked() {}, onDrained: () => output.flush(), onClosed() {} });
    output = new Output(new PrettyFormat({ color: false, timestamp: false, width: 5 }), writer);
    const turn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 2));
    const block = (from: number): Buffer => Buffer.from(Array.from({ length: 500 }, (_, i) => `line ${from + i}\n`).join(''));
    const feed = (chunk: Buffer): void => output.handle({ kind: 'output', instance: web, stream: 'stdout', chunk });

    feed(block(0));
    await turn();
    expect(pending, 'the first turn is written').toHaveLength(1);
    expect(writer.blocked).toBe(true);
    const queued = sink.writableLength;
    feed(block(500));
    await turn();
    expect(sink.writableLength, 'the second turn waits, staged, for the drain: nothing more is queued').toBe(queued);
    while (pending.length > 0) {
      const next = pending.shift() as { chunk: Buffer; done: () => void };
      seen.push(Buffer.from(next.chunk));
      next.done();
      await turn();
    }
    expect(writer.blocked).toBe(false);
    expect(Buffer.concat(seen).toString()).toBe(Array.from({ length: 1000 }, (_, i) => `web.1 | line ${i}\n`).join(''));
  });
});

describe('Writer to a file (written with writeSync, past the stream)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'tf-writer-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A stream like Node's stdout on a file: it has the descriptor, and counts what it was asked to write. */
  const fileStream = (fd: number) => {
    const stream = Object.assign(new Writable({ write: (_c, _e, done) => (stream.calls++, done()) }), { fd, calls: 0 });
    return stream;
  };

  it('writes every byte in order, never keeps borrowed bytes, and leaves the stream alone', async () => {
    const file = path.join(dir, 'out.txt');
    const fd = openSync(file, 'w');
    try {
      const stream = fileStream(fd);
      const writer = new Writer(stream, { onBlocked() {}, onDrained() {}, onClosed() {} });
      const bytes = Buffer.from('one\n');
      expect(writer.writeBorrowed(bytes, () => undefined)).toBe(false);
      bytes.write('two\n'); // free to reuse at once: the bytes are already in the file
      expect(writer.writeBorrowed(bytes, () => undefined)).toBe(false);
      writer.write('three\n');
      await writer.flushed();
      expect(readFileSync(file, 'utf8')).toBe('one\ntwo\nthree\n');
      expect(stream.calls).toBe(0);
    } finally {
      closeSync(fd);
    }
  });

  it('writes past the stream to a device such as /dev/null, but leaves a terminal (isTTY, as Node sets it) to its stream', async () => {
    const fd = openSync('/dev/null', 'w');
    try {
      const device = fileStream(fd);
      const terminal = Object.assign(fileStream(fd), { isTTY: true });
      for (const stream of [device, terminal]) {
        const writer = new Writer(stream, { onBlocked() {}, onDrained() {}, onClosed() {} });
        writer.write('x\n');
        await writer.flushed();
      }
      expect(device.calls).toBe(0);
      expect(terminal.calls).toBe(1);
    } finally {
      closeSync(fd);
    }
  });

  it('treats a failed write as output closed, once, and writes nothing more', () => {
    const file = path.join(dir, 'read-only.txt');
    writeFileSync(file, '');
    const fd = openSync(file, 'r'); // write(2) fails with EBADF, as it would on a full disk with ENOSPC
    try {
      let closed = 0;
      const writer = new Writer(fileStream(fd), { onBlocked() {}, onDrained() {}, onClosed: () => void closed++ });
      writer.write('lost\n');
      writer.write('also lost\n');
      expect(closed).toBe(1);
      expect(writer.closed).toBe(true);
    } finally {
      closeSync(fd);
    }
  });
});
