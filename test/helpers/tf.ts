import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));
export const TF_BIN = path.resolve(here, '../../bin/tf.cjs');
export const FIXTURES = path.resolve(here, '../fixtures');
/** `node <fixture>` as a Procfile command. */
export const fixture = (name: string, ...args: string[]): string =>
  [JSON.stringify(process.execPath), JSON.stringify(path.join(FIXTURES, name)), ...args].join(' ');

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface TfProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything tf wrote to stdout so far, decoded as UTF-8. */
  output(): string;
  /** The same, as the bytes tf wrote. */
  outputBytes(): Buffer;
  stderr(): string;
  /** Resolves with the first match of `pattern` in stdout (or stderr); rejects (with the output) on timeout or exit. */
  waitFor(pattern: RegExp, ms?: number, stream?: 'stdout' | 'stderr'): Promise<RegExpMatchArray>;
  signal(signal: NodeJS.Signals): void;
  readonly exited: Promise<Exit>;
}

/** A clean environment for tf: no TF_* or colour variables leaking in from the developer's shell. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key.startsWith('TF_') || ['NO_COLOR', 'FORCE_COLOR', 'PORT', 'PS'].includes(key)) continue;
    env[key] = value;
  }
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

const started = new Set<ChildProcess>();

/** Runs the built CLI. Every tf started here is killed by `killAllTf` if a test leaves it running. */
export function runTf(args: readonly string[], options: { cwd: string; env?: Record<string, string | undefined>; stdin?: 'pipe' | 'ignore' }): TfProcess {
  const child = spawn(process.execPath, [TF_BIN, ...args], {
    cwd: options.cwd,
    env: cleanEnv(options.env),
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  let out = '';
  let err = '';
  const bytes: Buffer[] = [];
  const decoder = new TextDecoder();
  const listeners = new Set<() => void>();
  child.stderr?.setEncoding('utf8');
  child.stdout?.on('data', (d: Buffer) => {
    bytes.push(d);
    out += decoder.decode(d, { stream: true });
    for (const l of listeners) l();
  });
  child.stderr?.on('data', (d: string) => {
    err += d;
    for (const l of listeners) l();
  });
  const exited = new Promise<Exit>((resolve) =>
    child.on('close', (code, signal) => {
      started.delete(child);
      resolve({ code, signal });
      for (const l of listeners) l();
    }),
  );
  let done = false;
  void exited.then(() => (done = true));
  const describe = (): string => `\n--- stdout ---\n${out}\n--- stderr ---\n${err}`;
  return {
    child,
    pid: child.pid as number,
    output: () => out,
    outputBytes: () => Buffer.concat(bytes),
    stderr: () => err,
    exited,
    signal: (signal) => {
      child.kill(signal);
    },
    waitFor(pattern, ms = 10_000, stream = 'stdout') {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const match = (stream === 'stdout' ? out : err).match(pattern);
          if (match !== null) {
            finish();
            resolve(match);
          } else if (done) {
            finish();
            reject(new Error(`tf exited before ${pattern} appeared${describe()}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`timed out after ${ms} ms waiting for ${pattern}${describe()}`));
        }, ms);
        const finish = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
  };
}

/** Every pid a test learned through pidsIn, so a failing test still cleans up after itself. */
const learned = new Set<number>();

/** For afterEach: no tf, and no process a test learned of, outlives its test, whatever it did. */
export function killAllTf(): void {
  for (const child of started) child.kill('SIGKILL');
  started.clear();
  for (const pid of learned) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  learned.clear();
}

/** A temporary app directory holding the given files. */
export function tmpApp(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'tf-test-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

export const removeApp = (dir: string): void => rmSync(dir, { recursive: true, force: true });

/**
 * For a test file: every tf and learned pid is killed after each test, and the temporary
 * apps made with the returned function are removed after the file.
 */
export function tempApps(): (files: Record<string, string>) => string {
  const apps: string[] = [];
  afterEach(killAllTf);
  afterAll(() => apps.forEach(removeApp));
  return (files) => {
    const dir = tmpApp(files);
    apps.push(dir);
    return dir;
  };
}

/** A process is gone when it no longer exists or is a zombie waiting to be reaped. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return process.platform !== 'linux';
  }
}

/** Resolves once `check` holds, polling a cheap condition (a file, /proc); rejects with `what` after `ms`. */
export async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Waits (bounded) until every pid is dead, then asserts it. Processes that are not our children
 * give no exit event, so this is the one place tests poll.
 */
export async function expectAllDead(pids: readonly number[], ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  let alive = pids.filter(isAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    alive = alive.filter(isAlive);
  }
  for (const pid of alive) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (alive.length > 0) throw new Error(`processes still alive after ${ms} ms: ${alive.join(', ')}`);
}

/** Every pid tf reported starting, plus any `pid=N` / `GRANDCHILD N` a fixture printed. */
export function pidsIn(output: string): number[] {
  const pids = new Set<number>();
  for (const m of output.matchAll(/started \(pid (\d+)|pid=(\d+)|GRANDCHILD (\d+)|"event":"spawned","pid":(\d+)/g)) {
    pids.add(Number(m[1] ?? m[2] ?? m[3] ?? m[4]));
  }
  for (const pid of pids) learned.add(pid);
  return [...pids];
}

/** Lines of tf's output without the time column, for exact assertions. */
export const plainLines = (output: string): string[] =>
  output
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.replace(/^\d\d:\d\d:\d\d /, ''));

/** Runs `fn` while this test process listens on a free port, which it is given. */
export async function withBusyPort<T>(fn: (port: number) => Promise<T>): Promise<T> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, resolve));
  try {
    return await fn((server.address() as { port: number }).port);
  } finally {
    server.close();
  }
}
