import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { toolEnv } from './tool-env.js';

/**
 * Grows the kernel buffer of pipes that a child fills faster than tf reads them.
 *
 * A Linux pipe holds 64 KiB. A child that floods its output fills that in a moment and
 * then blocks until tf has read it, so tf reads in small pieces, one event-loop turn each,
 * and the child and tf take turns instead of running side by side on two cores. With 1 MiB
 * the child runs ahead, tf's reads come back full, and a flood of 100 MB took ~15 % less
 * wall time and ~25 % less of tf's CPU (see the README's Performance section).
 *
 * Node has no fcntl, so `perl` sets F_SETPIPE_SZ on descriptors it inherits: one short run
 * per batch of pipes, off the hot path, only for pipes that have come back full, and within
 * a budget (pipeBudget). Where there is no perl, or the kernel refuses (the user's pipe
 * pages are over /proc/sys/fs/pipe-user-pages-soft), pipes keep their size and tf works as
 * before. Other systems have no such call: macOS pipes grow to 64 KiB by themselves.
 */
export const GROWN_PIPE_BYTES = 1024 * 1024;

const DEFAULT_PIPE_BYTES = 64 * 1024;
/** The unit of pipe-user-pages-soft (a page is larger on some machines: the budget is then smaller than it could be). */
const PAGE_BYTES = 4096;

/** How big a grown pipe is, and how many may be grown. */
export interface PipeBudget {
  readonly bytes: number;
  readonly pipes: number;
}

/**
 * What tf may take: 1 MiB a pipe (less if /proc/sys/fs/pipe-max-size, the most an
 * unprivileged user may ask, is lower), and a quarter of pipe-user-pages-soft in all (16 MiB,
 * so 16 pipes, by default). The kernel charges a pipe's capacity to its user whether it
 * is used or not, and past the soft limit every new pipe of that user gets two pages, in
 * every program; a quarter leaves the rest of the user's session, and a second tf, room.
 * A soft limit of 0 means none: then 16 pipes. A maximum under twice the default size is
 * not worth a perl run: then none.
 */
export function pipeBudget(maxSizeBytes: number, softLimitPages: number): PipeBudget {
  const bytes = Math.min(GROWN_PIPE_BYTES, maxSizeBytes);
  const allowance = softLimitPages === 0 ? 16 * bytes : (softLimitPages * PAGE_BYTES) / 4;
  return { bytes, pipes: bytes < 2 * DEFAULT_PIPE_BYTES ? 0 : Math.floor(allowance / bytes) };
}

/** The budget on this machine, from /proc/sys/fs; the kernel's defaults where a file cannot be read. */
export function kernelPipeBudget(): PipeBudget {
  return pipeBudget(readNumber('/proc/sys/fs/pipe-max-size') ?? 1024 * 1024, readNumber('/proc/sys/fs/pipe-user-pages-soft') ?? 16384);
}

function readNumber(file: string): number | undefined {
  try {
    const value = Number(readFileSync(file, 'latin1').trim());
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

/** F_SETPIPE_SZ from <fcntl.h> (Linux); perl's Fcntl module does not export it everywhere. */
const F_SETPIPE_SZ = 1031;

/**
 * Exits 0 when every descriptor from 3 on took the new size, 1 when any did not. The
 * numbers are made numeric: given a string, perl's fcntl passes a pointer to it.
 */
const PERL_SCRIPT = `my ($bytes, $count) = map { 0 + $_ } @ARGV; my $failed = 0;
for my $fd (3 .. $count + 2) { my $h; (open($h, '<&=', $fd) && fcntl($h, ${F_SETPIPE_SZ}, $bytes)) or $failed++ }
exit($failed ? 1 : 0);`;

/** A pipe that may be grown: its read end, while tf still has it open. */
export interface GrowablePipe {
  readonly fd: number;
  readonly open: boolean;
}

/** Sets the capacity of `fds`; resolves with why not, or undefined when all took it. */
export type CapacitySetter = (fds: readonly number[], bytes: number) => Promise<string | undefined>;

export interface PipeCapacityOptions {
  /** How capacities are set; null where the system has no way (the default off Linux). */
  readonly setCapacity?: CapacitySetter | null;
  /** Hears one line per batch, for TF_LOG=debug. */
  readonly report?: (line: string) => void;
  /** The kernel's limits, read at the first request (not at start-up, where most runs never need them). */
  readonly budget?: () => PipeBudget;
}

export class PipeCapacity {
  private queued: GrowablePipe[] = [];
  private granted = 0;
  private running = false;
  private whyNot: string | undefined;
  private readonly setCapacity: CapacitySetter | null;
  private readonly report: (line: string) => void;
  private readonly readBudget: () => PipeBudget;
  private budget: PipeBudget | undefined;

  constructor({ setCapacity = process.platform === 'linux' ? perlSetCapacity : null, report = () => {}, budget = kernelPipeBudget }: PipeCapacityOptions = {}) {
    this.setCapacity = setCapacity;
    this.report = report;
    this.readBudget = budget;
    if (setCapacity === null) this.whyNot = `${process.platform} has no F_SETPIPE_SZ`;
  }

  /** Asks for `pipe` to be grown; one batch runs at a time, and what arrives meanwhile waits for the next. */
  grow(pipe: GrowablePipe): void {
    if (this.whyNot !== undefined) return;
    this.budget ??= this.readBudget();
    if (this.granted >= this.budget.pipes) return;
    this.granted++;
    this.queued.push(pipe);
    if (!this.running) this.runBatch();
  }

  private runBatch(): void {
    // A pipe closed while it waited may have lent its number to another file.
    const fds = this.queued.splice(0).filter((pipe) => pipe.open).map((pipe) => pipe.fd);
    const bytes = this.budget?.bytes;
    if (fds.length === 0 || this.setCapacity === null || bytes === undefined) return;
    this.running = true;
    void this.setCapacity(fds, bytes).then((failure) => {
      this.running = false;
      const what = `${fds.length} pipe${fds.length === 1 ? '' : 's'} (fd ${fds.join(', ')})`;
      if (failure !== undefined) {
        // The kernel or the host said no; asking again would only cost another run.
        this.whyNot = failure;
        this.queued = [];
        this.report(`could not grow ${what}: ${failure}; pipes keep their size`);
        return;
      }
      this.report(`grew ${what} to ${bytes / 1024} KiB`);
      this.runBatch();
    });
  }
}

/** One perl run that inherits `fds` as its descriptors 3, 4, ... and sets their capacity. */
export function perlSetCapacity(fds: readonly number[], bytes: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn('perl', ['-e', PERL_SCRIPT, String(bytes), String(fds.length)], { stdio: ['ignore', 'ignore', 'ignore', ...fds], env: toolEnv() });
    } catch (error) {
      resolve(`perl: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    // A few milliseconds of work: it must not hold tf's exit.
    child.unref();
    child.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ENOENT' ? 'perl is not on PATH' : `perl: ${error.message}`));
    child.once('exit', (code, signal) => resolve(code === 0 ? undefined : `the kernel refused F_SETPIPE_SZ (perl exited ${code ?? signal})`));
  });
}
