import { afterEach, describe, expect, it, vi } from 'vitest';
import type { BorrowedWrite } from '../../src/output/format.js';
import { BATCH_BYTES, bestEngine, JsEngine, LinePrefixer, WasmEngine, type PrefixEngine } from '../../src/output/prefixer.js';
import { PREFIX_WASM } from '../../src/output/prefix-wasm.js';
// @ts-expect-error: a plain .mjs tool without types
import { assemble } from '../tools/assemble-wasm.mjs';

/** What the module must do, the slow and obvious way. */
function reference(prefix: Buffer, input: Buffer, reset = true): Buffer {
  const out: Buffer[] = [];
  let start = 0;
  for (let nl = input.indexOf(10); nl !== -1; nl = input.indexOf(10, start)) {
    const end = nl > start && input[nl - 1] === 13 ? nl - 1 : nl;
    const line = input.subarray(start, end);
    out.push(prefix, line, reset && line.includes(0x1b) ? Buffer.from('\x1b[0m') : Buffer.alloc(0), Buffer.from('\n'));
    start = nl + 1;
  }
  return Buffer.concat(out);
}

/** A seeded generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x80000000;
  };
}

/** Lines of every length around the 8-byte words, made of bytes that matter and bytes that do not. */
function lines(next: () => number, count: number): Buffer {
  const alphabet = [0x61, 0x0d, 0x1b, 0x0a - 1, 0x0a + 1, 0x1b + 1, 0x80, 0xff, 0x00, 0x01];
  const parts: number[] = [];
  for (let i = 0; i < count; i++) {
    const length = Math.floor(next() * 70);
    for (let j = 0; j < length; j++) parts.push(alphabet[Math.floor(next() * alphabet.length)] as number);
    if (next() < 0.3) parts.push(0x0d);
    parts.push(0x0a);
  }
  return Buffer.from(parts);
}

/** Runs the prefixer and flushes it, copying what it writes (a stream that took the bytes at once). */
function prefixed(prefixer: LinePrefixer, prefix: Buffer, head: Buffer | undefined, body: Buffer): Buffer {
  const parts: Buffer[] = [];
  const write = (bytes: Buffer): boolean => (parts.push(Buffer.from(bytes)), false);
  prefixer.prefix(prefix, head, body, write);
  prefixer.flush(write);
  return Buffer.concat(parts);
}

describe('prefix.wat', () => {
  it('is built from the committed source (else run `npm run wasm`)', async () => {
    expect(PREFIX_WASM).toBe(await assemble());
  });
});

describe('the engine', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('is WebAssembly where it runs, and JavaScript where WebAssembly is missing (node --jitless)', () => {
    expect(bestEngine()).toBeInstanceOf(WasmEngine);
    vi.stubGlobal('WebAssembly', undefined);
    expect(bestEngine()).toBeInstanceOf(JsEngine);
  });
});

describe.each([
  ['WebAssembly', (): PrefixEngine => new WasmEngine()],
  ['JavaScript', (): PrefixEngine => new JsEngine()],
])('LinePrefixer with the %s engine', (_name, engine) => {
  const newPrefixer = (reset = true): LinePrefixer => new LinePrefixer(reset, engine);

  it('matches the reference on random lines: every length, \\r, ESC, NUL and high bytes, with and without a head', () => {
    const prefixer = newPrefixer();
    for (let seed = 1; seed <= 300; seed++) {
      const next = random(seed);
      const prefix = Buffer.from('p'.repeat(seed % 23));
      const input = lines(next, 1 + (seed % 40));
      const cut = Math.floor(next() * (input.indexOf(10) + 1));
      const head = cut > 0 ? input.subarray(0, cut) : undefined;
      expect(prefixed(prefixer, prefix, head, input.subarray(cut)).toString('latin1'), `seed ${seed}`).toBe(reference(prefix, input).toString('latin1'));
    }
  });

  it('adds no colour reset with colour off: tf writes no escape sequence of its own', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const input = lines(random(seed), 30);
      expect(prefixed(newPrefixer(false), Buffer.from('p | '), undefined, input).toString('latin1'), `seed ${seed}`).toBe(
        reference(Buffer.from('p | '), input, false).toString('latin1'),
      );
    }
  });

  it('handles output larger than one call’s room (many empty lines, long prefix) and input that grows the memory', () => {
    const prefixer = newPrefixer();
    const prefix = Buffer.from(`${'n'.repeat(200)} | `);
    const empty = Buffer.alloc(20_000, 0x0a);
    expect(prefixed(prefixer, prefix, undefined, empty).equals(reference(prefix, empty))).toBe(true);
    const big = lines(random(7), 200_000);
    expect(prefixed(prefixer, prefix, Buffer.from('head '), big).equals(reference(prefix, Buffer.concat([Buffer.from('head '), big])))).toBe(true);
    const small = Buffer.from('a\r\nb\x1b[1m\n');
    expect(prefixed(prefixer, Buffer.from('> '), undefined, small).toString('latin1')).toBe('> a\n> b\x1b[1m\x1b[0m\n');
  });

  it('batches blocks and writes them at once on flush, or as soon as a batch is full', () => {
    const prefixer = newPrefixer();
    const prefix = Buffer.from('web.1 | ');
    const writes: Buffer[] = [];
    const write = (bytes: Buffer): boolean => (writes.push(Buffer.from(bytes)), false);
    const blocks = Array.from({ length: 50 }, (_, i) => Buffer.from(`line ${i}\n`));
    for (const block of blocks) prefixer.prefix(prefix, undefined, block, write);
    expect(writes).toEqual([]);
    prefixer.flush(write);
    expect(writes.map((w) => w.toString())).toEqual([reference(prefix, Buffer.concat(blocks)).toString()]);
    prefixer.flush(write);
    expect(writes).toHaveLength(1);

    const flood = lines(random(3), 60_000);
    writes.length = 0;
    prefixer.prefix(prefix, undefined, flood, write);
    prefixer.flush(write);
    expect(writes.length).toBeGreaterThan(2);
    expect(writes.every((w) => w.length <= BATCH_BYTES)).toBe(true);
    expect(Buffer.concat(writes).equals(reference(prefix, flood))).toBe(true);
  });

  it('never writes again into bytes a stream kept (a queued write), even in the middle of a block', () => {
    const prefixer = newPrefixer();
    const prefix = Buffer.from(`${'n'.repeat(100)} | `);
    const kept: { bytes: Buffer; copy: Buffer }[] = [];
    const keep = (bytes: Buffer): boolean => (kept.push({ bytes, copy: Buffer.from(bytes) }), true); // and never released
    const first = lines(random(5), 30_000); // more output than a batch: kept mid-block
    const second = Buffer.from('second\n');
    prefixer.prefix(prefix, undefined, first, keep);
    prefixer.prefix(prefix, undefined, second, keep);
    prefixer.flush(keep);
    prefixed(prefixer, prefix, undefined, Buffer.from('third\n'));
    expect(kept.length).toBeGreaterThan(2);
    for (const { bytes, copy } of kept) expect(bytes.equals(copy)).toBe(true);
    expect(Buffer.concat(kept.map((k) => k.bytes)).equals(Buffer.concat([reference(prefix, first), reference(prefix, second)]))).toBe(true);
  });

  it('lends a batch to a stream that keeps a write, batches in the other, and reuses it once released', () => {
    const prefixer = newPrefixer();
    const prefix = Buffer.from('p | ');
    const seen: { bytes: Buffer; text: string }[] = [];
    const releases: (() => void)[] = [];
    const keep = (bytes: Buffer, released: () => void): boolean => {
      seen.push({ bytes, text: bytes.toString() });
      releases.push(released);
      return true;
    };
    const take = (bytes: Buffer): boolean => (seen.push({ bytes, text: bytes.toString() }), false);
    const step = (text: string, write: BorrowedWrite): void => {
      prefixer.prefix(prefix, undefined, Buffer.from(`${text}\n`), write);
      prefixer.flush(write);
    };
    const sameMemory = (a: number, b: number): boolean => seen[a]?.bytes.buffer === seen[b]?.bytes.buffer;
    step('one', keep); // area A, kept
    step('two', take); // area B
    expect(sameMemory(1, 0)).toBe(true);
    expect(seen[1]?.bytes.byteOffset).not.toBe(seen[0]?.bytes.byteOffset);
    step('three', keep); // B kept too; A is still held
    expect(seen[0]?.bytes.toString()).toBe('p | one\n'); // untouched while held
    releases[0]?.();
    step('four', take); // A again, now that it is released
    expect(sameMemory(3, 0)).toBe(true);
    expect(seen[3]?.bytes.byteOffset).toBe(seen[0]?.bytes.byteOffset);
    step('five', keep); // A kept while B is held: both are the stream's now
    step('six', take); // so a fresh engine writes this
    expect(sameMemory(5, 0)).toBe(false);
    expect([seen[2]?.bytes.toString(), seen[4]?.bytes.toString()]).toEqual(['p | three\n', 'p | five\n']);
    expect(seen.map((x) => x.text).join('')).toBe('p | one\np | two\np | three\np | four\np | five\np | six\n');
  });
});
