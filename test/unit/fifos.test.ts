import {
  chmodSync,
  chownSync,
  closeSync,
  openSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDescriptorCount, openFileLimit } from '../../src/host/descriptors.js';
import { fifoHome, FifoMaker, runMkfifo } from '../../src/host/fifos.js';

/** What a maker left in its home; each test gives its maker a home of its own, as other tf runs share /dev/shm and the temp dir. */
const leftovers = (home: string): string[] => readdirSync(home).filter((name) => name.startsWith('tf-pipes-'));

const scratch = mkdtempSync(path.join(tmpdir(), 'tf-fifos-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
/** A fresh directory under the scratch one, with `mode`. */
function dirWith(mode: number): string {
  const dir = mkdtempSync(path.join(scratch, 'd-'));
  chmodSync(dir, mode);
  return dir;
}
/** Where the FIFOs go when XDG_RUNTIME_DIR is not usable. */
const shared = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
const isRoot = process.getuid?.() === 0;

describe('FifoMaker', () => {
  it('makes a batch with one mkfifo run, opens both ends and leaves no name on disk', () => {
    const runs: number[] = [];
    const home = dirWith(0o700);
    const maker = new FifoMaker(
      3,
      (paths) => {
        runs.push(paths.length);
        return runMkfifo(paths);
      },
      () => home,
    );
    const ends = [maker.take(), maker.take(), maker.take()];
    expect(runs).toEqual([3]);
    expect(leftovers(home)).toEqual([]);
    for (const pair of ends) {
      expect(pair).toBeDefined();
      const { read, write } = pair as { read: number; write: number };
      expect(writeSync(write, 'x')).toBe(1);
      closeSync(read);
      closeSync(write);
    }
    // A fourth (a restart, later) makes one more.
    const more = maker.take();
    expect(runs).toEqual([3, 1]);
    closeSync(more!.read);
    closeSync(more!.write);
  });

  it('tells each private directory, for every batch, before mkfifo puts a name in it (the watchdog removes it if tf dies)', () => {
    const home = dirWith(0o700);
    const told: { dir: string; inode: number; empty: boolean }[] = [];
    const ran: string[] = [];
    const maker = new FifoMaker(
      2,
      (paths) => {
        ran.push(path.dirname(paths[0] as string));
        return runMkfifo(paths);
      },
      () => home,
      (dir, inode) => told.push({ dir, inode, empty: readdirSync(dir).length === 0 && statSync(dir).ino === inode }),
    );
    const ends = [maker.take(), maker.take(), maker.take()];
    expect(told.map((t) => t.dir)).toEqual(ran);
    expect(told).toHaveLength(2);
    expect(told.every((t) => t.empty)).toBe(true);
    for (const pair of ends) closeSync(pair!.read), closeSync(pair!.write);
  });

  it('says why mkfifo could not make the FIFOs', () => {
    expect(runMkfifo(['/nonexistent-tf-dir/0'])).toBe('mkfifo failed in /nonexistent-tf-dir');
  });

  it('gives nothing, once and for all, where FIFOs cannot be made', () => {
    let runs = 0;
    const home = dirWith(0o700);
    const maker = new FifoMaker(
      2,
      () => (runs++, 'no FIFOs here'),
      () => home,
    );
    expect(maker.take()).toBeUndefined();
    expect(maker.take()).toBeUndefined();
    expect(runs).toBe(1);
    expect(maker.failure).toBe('no FIFOs here');
    expect(leftovers(home)).toEqual([]);
  });

  it('makes its names in a private directory of its own (mode 0700) inside the home it is given', () => {
    const home = dirWith(0o755);
    let seen: string | undefined;
    const maker = new FifoMaker(
      1,
      (paths) => {
        seen = path.dirname(paths[0] as string);
        expect(readdirSync(home)).toEqual([path.basename(seen)]);
        return runMkfifo(paths);
      },
      () => home,
    );
    const ends = maker.take();
    expect(path.dirname(seen as string)).toBe(home);
    expect(readdirSync(home)).toEqual([]);
    closeSync(ends!.read);
    closeSync(ends!.write);
  });

  it('refuses a symlink where a FIFO should be, without following it', () => {
    const real = path.join(scratch, 'real-fifo');
    expect(runMkfifo([real])).toBeUndefined();
    const home = dirWith(0o700);
    const maker = new FifoMaker(
      1,
      (paths) => {
        symlinkSync(real, paths[0] as string);
        return undefined;
      },
      () => home,
    );
    expect(maker.take()).toBeUndefined();
    expect(maker.failure).toMatch(/ELOOP/);
    expect(leftovers(home)).toEqual([]);
  });

  it('refuses a file that is not a FIFO', () => {
    const home = dirWith(0o700);
    const maker = new FifoMaker(
      1,
      (paths) => {
        writeFileSync(paths[0] as string, 'not a pipe');
        return undefined;
      },
      () => home,
    );
    expect(maker.take()).toBeUndefined();
    expect(maker.failure).toMatch(/is not a FIFO$/);
    expect(leftovers(home)).toEqual([]);
  });
});

describe('FifoMaker.prepare', () => {
  it('runs mkfifo for the first batch ahead of time; take() then opens what it made without running it again', async () => {
    const home = dirWith(0o700);
    let syncRuns = 0;
    const maker = new FifoMaker(
      2,
      () => (syncRuns++, 'not expected'),
      () => home,
    );
    await maker.prepare();
    expect(leftovers(home)).toHaveLength(1);
    const ends = [maker.take(), maker.take()];
    expect(syncRuns).toBe(0);
    expect(leftovers(home)).toEqual([]);
    for (const pair of ends) {
      expect(pair).toBeDefined();
      expect(writeSync(pair!.write, 'x')).toBe(1);
      closeSync(pair!.read);
      closeSync(pair!.write);
    }
  });

  it('gives nothing, once and for all, where the prepared mkfifo failed', async () => {
    const home = dirWith(0o700);
    const maker = new FifoMaker(
      1,
      () => 'not expected',
      () => home,
    );
    await maker.prepare(async () => 'no FIFOs here');
    expect(maker.take()).toBeUndefined();
    expect(maker.failure).toBe('no FIFOs here');
    expect(leftovers(home)).toEqual([]);
  });

  it('makes the batch the usual way when take() comes before mkfifo is done, and removes the late names', async () => {
    const home = dirWith(0o700);
    let finish: (failed: string | undefined) => void = () => {};
    let latePaths: readonly string[] = [];
    const maker = new FifoMaker(1, runMkfifo, () => home);
    const prepared = maker.prepare((paths) => {
      latePaths = paths;
      return new Promise((resolve) => {
        finish = resolve;
      });
    });
    const ends = maker.take();
    expect(ends).toBeDefined();
    closeSync(ends!.read);
    closeSync(ends!.write);
    expect(runMkfifo(latePaths)).toBeUndefined();
    finish(undefined);
    await prepared;
    await new Promise((resolve) => setImmediate(resolve));
    expect(leftovers(home)).toEqual([]);
  });

  it('removes the names of a batch nobody took', async () => {
    const home = dirWith(0o700);
    const maker = new FifoMaker(3, runMkfifo, () => home);
    void maker.prepare();
    await maker.discard();
    expect(leftovers(home)).toEqual([]);
  });
});

describe('fifoHome', () => {
  it("uses XDG_RUNTIME_DIR when it is the user's own directory with mode 0700", () => {
    const dir = dirWith(0o700);
    expect(fifoHome({ XDG_RUNTIME_DIR: dir })).toBe(dir);
  });

  it('does not use an XDG_RUNTIME_DIR that others may write to or enter', () => {
    expect(fifoHome({ XDG_RUNTIME_DIR: dirWith(0o777) })).toBe(shared);
    expect(fifoHome({ XDG_RUNTIME_DIR: dirWith(0o755) })).toBe(shared);
    expect(fifoHome({ XDG_RUNTIME_DIR: dirWith(0o1777) })).toBe(shared);
  });

  it.skipIf(!isRoot)('does not use an XDG_RUNTIME_DIR owned by another user', () => {
    const dir = dirWith(0o700);
    chownSync(dir, 65534, 65534);
    expect(fifoHome({ XDG_RUNTIME_DIR: dir })).toBe(shared);
  });

  it('does not use an XDG_RUNTIME_DIR that is a symlink, a file, relative or missing', () => {
    const dir = dirWith(0o700);
    const link = path.join(scratch, 'link');
    symlinkSync(dir, link);
    const file = path.join(scratch, 'file');
    writeFileSync(file, '');
    for (const value of [link, file, path.relative(process.cwd(), dir), path.join(scratch, 'missing'), '']) {
      expect(fifoHome({ XDG_RUNTIME_DIR: value }), value).toBe(shared);
    }
    expect(fifoHome({})).toBe(shared);
  });
});

describe('descriptors', () => {
  it.skipIf(process.platform !== 'linux')("reads this process's limit on open files and counts what it has open", () => {
    const limit = openFileLimit();
    expect(limit).toBeGreaterThan(0);
    const before = openDescriptorCount() as number;
    const fd = openSync('/dev/null', 'r');
    expect(openDescriptorCount()).toBe(before + 1);
    closeSync(fd);
  });

  it('reads the soft limit from a limits file, and nothing where it is unlimited or missing', () => {
    const file = path.join(scratch, 'limits');
    writeFileSync(
      file,
      'Limit                     Soft Limit           Hard Limit           Units     \nMax open files            512                  4096                 files     \n',
    );
    expect(openFileLimit(file)).toBe(512);
    writeFileSync(file, 'Max open files            unlimited            unlimited            files     \n');
    expect(openFileLimit(file)).toBeUndefined();
    expect(openFileLimit(path.join(scratch, 'none'))).toBeUndefined();
  });
});
