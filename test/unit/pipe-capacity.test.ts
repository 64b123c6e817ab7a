import { spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GROWN_PIPE_BYTES, kernelPipeBudget, PipeCapacity, pipeBudget, perlSetCapacity, type CapacitySetter, type GrowablePipe } from '../../src/host/pipe-capacity.js';
import { toolEnv } from '../../src/host/tool-env.js';
import { runMkfifo } from '../../src/supervisor/pipes.js';

const canGrow = process.platform === 'linux' && spawnSync('perl', ['-e', '1']).status === 0;

const opened: number[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const fd of opened.splice(0)) closeSync(fd);
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A real FIFO with both ends open, the write end non-blocking so that filling it stops at its capacity. */
function fifo(): { read: number; write: number } {
  const dir = mkdtempSync(path.join(tmpdir(), 'tf-capacity-'));
  dirs.push(dir);
  const name = path.join(dir, 'pipe');
  expect(runMkfifo([name])).toBeUndefined();
  const read = openSync(name, constants.O_RDONLY | constants.O_NONBLOCK);
  const write = openSync(name, constants.O_WRONLY | constants.O_NONBLOCK);
  opened.push(read, write);
  return { read, write };
}

/** Bytes the pipe takes before a write would block: its capacity. */
function capacityOf(write: number): number {
  const page = Buffer.alloc(4096, 'x');
  let total = 0;
  for (;;) {
    try {
      total += writeSync(write, page);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return total;
      throw error;
    }
  }
}

/** A setter that records its batches and settles each when the test says so. */
function heldSetter(): { setter: CapacitySetter; batches: number[][]; settle(failure?: string): Promise<void> } {
  const batches: number[][] = [];
  const pending: ((failure: string | undefined) => void)[] = [];
  return {
    batches,
    setter: (fds) => {
      batches.push([...fds]);
      return new Promise((resolve) => pending.push(resolve));
    },
    async settle(failure) {
      pending.shift()?.(failure);
      // Lets the setter's promise callbacks run.
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

const pipe = (fd: number, open = true): GrowablePipe => ({ fd, open });
const budget = (pipes: number) => () => ({ bytes: GROWN_PIPE_BYTES, pipes });

describe.skipIf(!canGrow)('perlSetCapacity on a real FIFO', () => {
  it('grows it from the default 64 KiB to 1 MiB, and leaves other pipes alone', async () => {
    const grown = fifo();
    const other = fifo();
    expect(await perlSetCapacity([grown.read], GROWN_PIPE_BYTES)).toBeUndefined();
    expect(capacityOf(grown.write)).toBe(GROWN_PIPE_BYTES);
    expect(capacityOf(other.write)).toBe(64 * 1024);
  }, 10_000);

  it('says why when the kernel refuses (a size over /proc/sys/fs/pipe-max-size)', async () => {
    const { read, write } = fifo();
    expect(await perlSetCapacity([read], 1024 * 1024 * 1024)).toMatch(/^the kernel refused F_SETPIPE_SZ/);
    expect(capacityOf(write)).toBe(64 * 1024);
  }, 10_000);
});

describe('perlSetCapacity without perl', () => {
  it('says perl is not on PATH, and throws nothing', async () => {
    const saved = process.env.PATH;
    process.env.PATH = path.join(tmpdir(), 'tf-no-such-dir');
    try {
      expect(await perlSetCapacity([0], GROWN_PIPE_BYTES)).toBe('perl is not on PATH');
    } finally {
      process.env.PATH = saved;
    }
  }, 10_000);
});

/** A capacity whose batches wait for the test (held) and whose report lines are kept, with room for 8 pipes. */
function reporting(): { held: ReturnType<typeof heldSetter>; lines: string[]; capacity: PipeCapacity } {
  const held = heldSetter();
  const lines: string[] = [];
  return { held, lines, capacity: new PipeCapacity({ setCapacity: held.setter, report: (line) => lines.push(line), budget: budget(8) }) };
}

describe('PipeCapacity', () => {
  it('runs one batch at a time: what asks meanwhile waits, and a pipe closed meanwhile is left out', async () => {
    const { held, lines, capacity } = reporting();
    capacity.grow(pipe(10));
    capacity.grow(pipe(11));
    capacity.grow(pipe(12, false));
    expect(held.batches).toEqual([[10]]);
    await held.settle();
    expect(held.batches).toEqual([[10], [11]]);
    await held.settle();
    expect(lines).toEqual(['grew 1 pipe (fd 10) to 1024 KiB', 'grew 1 pipe (fd 11) to 1024 KiB']);
  });

  it('grows no more pipes than the budget allows, to the size it allows', async () => {
    const held = heldSetter();
    const sizes: number[] = [];
    const capacity = new PipeCapacity({
      setCapacity: (fds, bytes) => (sizes.push(bytes), held.setter(fds, bytes)),
      budget: () => ({ bytes: 512 * 1024, pipes: 5 }),
    });
    for (let fd = 10; fd < 18; fd++) capacity.grow(pipe(fd));
    await held.settle();
    await held.settle();
    expect(held.batches).toEqual([[10], [11, 12, 13, 14]]);
    expect(sizes).toEqual([512 * 1024, 512 * 1024]);
  });

  it('reads the budget once, at the first request', () => {
    let reads = 0;
    const capacity = new PipeCapacity({ setCapacity: heldSetter().setter, budget: () => (reads++, { bytes: GROWN_PIPE_BYTES, pipes: 8 }) });
    expect(reads).toBe(0);
    capacity.grow(pipe(10));
    capacity.grow(pipe(11));
    expect(reads).toBe(1);
  });

  it('stops asking after a refusal, and reports it once', async () => {
    const { held, lines, capacity } = reporting();
    capacity.grow(pipe(10));
    capacity.grow(pipe(11));
    await held.settle('perl is not on PATH');
    capacity.grow(pipe(12));
    expect(held.batches).toEqual([[10]]);
    expect(lines).toEqual(['could not grow 1 pipe (fd 10): perl is not on PATH; pipes keep their size']);
  });
});

describe('pipeBudget', () => {
  it.each([
    // pipe-max-size, pipe-user-pages-soft: bytes a pipe, pipes
    [1024 * 1024, 16384, GROWN_PIPE_BYTES, 16], // the kernel's defaults: 16 MiB, a quarter of 64 MiB
    [4 * 1024 * 1024, 16384, GROWN_PIPE_BYTES, 16], // a higher maximum: still 1 MiB, enough to matter
    [256 * 1024, 16384, 256 * 1024, 64], // a lower maximum: smaller pipes, more of them
    [1024 * 1024, 1024, GROWN_PIPE_BYTES, 1], // a tight soft limit (4 MiB): one pipe
    [1024 * 1024, 0, GROWN_PIPE_BYTES, 16], // no soft limit: still 16
    [64 * 1024, 16384, 64 * 1024, 0], // pipes cannot grow past the default: none
  ])('max %i bytes, soft limit %i pages -> %i bytes x %i pipes', (maxSize, soft, bytes, pipes) => {
    expect(pipeBudget(maxSize, soft)).toEqual({ bytes, pipes });
  });

  it.skipIf(process.platform !== 'linux')("reads this machine's limits from /proc/sys/fs", () => {
    const max = Number(readFileSync('/proc/sys/fs/pipe-max-size', 'latin1'));
    const soft = Number(readFileSync('/proc/sys/fs/pipe-user-pages-soft', 'latin1'));
    expect(kernelPipeBudget()).toEqual(pipeBudget(max, soft));
  });
});

describe('toolEnv (the environment of mkfifo and perl)', () => {
  it("keeps tf's PATH and what tf adds, and nothing else of the environment", () => {
    const saved = { PATH: process.env.PATH, PERL5OPT: process.env.PERL5OPT };
    process.env.PATH = '/tools/bin';
    process.env.PERL5OPT = '-Mstrict';
    try {
      expect(toolEnv({ LC_ALL: 'C' })).toEqual({ LC_ALL: 'C', PATH: '/tools/bin' });
      delete process.env.PATH;
      expect(toolEnv()).toEqual({});
    } finally {
      process.env.PATH = saved.PATH;
      if (saved.PERL5OPT === undefined) delete process.env.PERL5OPT;
      else process.env.PERL5OPT = saved.PERL5OPT;
    }
  });
});
