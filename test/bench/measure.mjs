// Measuring a supervisor from the outside: wall time, peak RSS, CPU time, exit, orphans.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

export const now = () => performance.now();

/** Peak resident set (VmHWM) in MB, or undefined where /proc is not available. */
export function peakRssMb(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
    return Number.isFinite(kb) ? kb / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** User + system CPU seconds used so far by the process itself. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** Processes whose command line is exactly `sleep <marker>`: the children a run started. */
export function orphans(marker) {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[1] === 'sleep' && f[2] === marker)
    .map((f) => Number(f[0]));
}

export function killAll(pids) {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/**
 * The environment every run gets, tools and floors alike. NODE_EXTRA_CA_CERTS makes every Node
 * process parse that file of certificates before running any code (this machine sets it:
 * `node -e 0` takes ~100 ms with it, ~35 ms without); it is left out unless asked for, as it
 * measures the machine's certificate bundle, not the tools.
 */
let runEnv = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
export function keepCaCerts(keep) {
  runEnv = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
  if (!keep) delete runEnv.NODE_EXTRA_CA_CERTS;
}
keepCaCerts(false);

/** The environment of every run, for scenarios that spawn their own clients. */
export const benchEnv = () => runEnv;

/**
 * Starts a supervisor with stdout piped to us. `onData(chunk)` sees every chunk; peak RSS is
 * sampled every 25 ms while it runs (VmHWM only grows, so the last sample is the peak).
 */
export function launch([file, args], { cwd, onData, readable, detached = false, stdout = 'pipe' } = {}) {
  const started = now();
  const child = spawn(file, args, { cwd, detached, stdio: ['ignore', stdout, 'ignore'], env: runEnv });
  let rss;
  const sample = () => {
    const value = peakRssMb(child.pid);
    if (value !== undefined) rss = value;
  };
  const timer = setInterval(sample, 25);
  if (readable) readable(child.stdout);
  else child.stdout?.on('data', (chunk) => onData?.(chunk));
  const exited = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      clearInterval(timer);
      resolve({ code, signal, at: now() });
    }),
  );
  return { child, started, exited, sampleRss: () => (sample(), rss), rss: () => rss };
}

/** Resolves when `count` lines matching `pattern` have been seen in the chunks fed to it. */
export function lineCounter(pattern, count) {
  let seen = 0;
  let tail = '';
  let resolve;
  const reached = new Promise((r) => (resolve = r));
  return {
    reached,
    feed(chunk) {
      const text = tail + chunk.toString('latin1');
      const cut = text.lastIndexOf('\n');
      tail = text.slice(cut + 1);
      const lines = text.slice(0, cut + 1);
      for (const _ of lines.matchAll(pattern)) {
        if (++seen === count) resolve(now());
      }
    },
  };
}

export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
