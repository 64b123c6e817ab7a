import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import type { Instance, Warning } from '../domain.js';
import { toolEnv } from './tool-env.js';

/**
 * What a probe learned of a port: something holds it, nothing does, or tf could not tell
 * (a privileged port refuses tf's bind whether or not it is taken).
 */
export type PortState = { readonly kind: 'free' } | { readonly kind: 'in-use' } | { readonly kind: 'unknown'; readonly code: string };

/** Binds the port on every address and lets it go; rejects with the bind's errno error. */
export type Bind = (port: number) => Promise<void>;

const bindAndRelease: Bind = (port) =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    // exclusive: a cluster worker would otherwise share the primary's handle and always succeed.
    server.listen({ port, exclusive: true }, () => server.close(() => resolve()));
  });

/** `bind` is for tests. */
export async function probePort(port: number, bind: Bind = bindAndRelease): Promise<PortState> {
  try {
    await bind(port);
    return { kind: 'free' };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code ?? 'unknown error';
    return code === 'EADDRINUSE' ? { kind: 'in-use' } : { kind: 'unknown', code };
  }
}

/** Who listens on which TCP port (`node (pid 123)`), as far as the OS lets tf see; ports it cannot tell are absent. */
export type Holders = ReadonlyMap<number, string>;

/** Looks up the holders of listening TCP ports; never rejects, and settles within `timeoutMs`. */
export type HolderLookup = (timeoutMs: number) => Promise<Holders>;

/**
 * The whole lookup, however many ports are busy, is bounded by this: it runs on tf start's
 * path before anything starts, and naming a holder is a courtesy, not worth a slow start.
 */
const HOLDER_LOOKUP_MS = 1000;

const PROBES_AT_ONCE = 16;

type ToolResult = { readonly kind: 'output'; readonly text: string } | { readonly kind: 'missing' } | { readonly kind: 'failed' };

function runTool(file: string, args: readonly string[], timeoutMs: number): Promise<ToolResult> {
  return new Promise((resolve) => {
    if (timeoutMs <= 0) return resolve({ kind: 'failed' });
    execFile(
      file,
      [...args],
      { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 * 1024 * 1024, env: toolEnv({ LC_ALL: 'C' }) },
      (error, stdout) => {
        if (error === null) resolve({ kind: 'output', text: stdout });
        else resolve((error as NodeJS.ErrnoException).code === 'ENOENT' ? { kind: 'missing' } : { kind: 'failed' });
      },
    );
  });
}

const portOfAddress = (address: string): number | undefined => {
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return Number.isInteger(port) && port > 0 ? port : undefined;
};

/** `ss -Hltnp`: `LISTEN 0 511 0.0.0.0:5000 0.0.0.0:* users:(("node",pid=123,fd=20))`; users only for the user's own processes. */
export function parseSs(text: string): Holders {
  const holders = new Map<number, string>();
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    const port = portOfAddress(fields[3] ?? '');
    const user = /users:\(\("([^"]+)",pid=(\d+)/.exec(line);
    if (port !== undefined && user !== null && !holders.has(port)) holders.set(port, `${user[1]} (pid ${user[2]})`);
  }
  return holders;
}

/** `lsof -Fpcn`: a `p` (pid) and `c` (command) line per process, then an `n` (address) line per socket. */
export function parseLsof(text: string): Holders {
  const holders = new Map<number, string>();
  let pid = '';
  let command = 'process';
  for (const line of text.split('\n')) {
    const value = line.slice(1);
    if (line.startsWith('p')) [pid, command] = [value, 'process'];
    else if (line.startsWith('c')) command = value;
    else if (line.startsWith('n') && pid !== '') {
      const port = portOfAddress(value);
      if (port !== undefined && !holders.has(port)) holders.set(port, `${command} (pid ${pid})`);
    }
  }
  return holders;
}

/** One `ss` for every listening port at once, or one `lsof` where there is no ss; within `timeoutMs` in all. */
export const lookupHolders: HolderLookup = async (timeoutMs) => {
  const deadline = Date.now() + timeoutMs;
  const ss = await runTool('ss', ['-Hltnp'], timeoutMs);
  if (ss.kind === 'output') return parseSs(ss.text);
  if (ss.kind === 'failed') return new Map();
  const lsof = await runTool('lsof', ['-nP', '-iTCP', '-sTCP:LISTEN', '-Fpcn'], deadline - Date.now());
  return lsof.kind === 'output' ? parseLsof(lsof.text) : new Map();
};

function warningFor(instance: Instance, state: PortState, holders: Holders): Warning | undefined {
  switch (state.kind) {
    case 'free':
      return undefined;
    case 'in-use': {
      const holder = holders.get(instance.port);
      return { message: `port ${instance.port} for ${instance.name} is already in use${holder === undefined ? '' : ` by ${holder}`}` };
    }
    case 'unknown':
      return {
        message:
          state.code === 'EACCES'
            ? `port ${instance.port} for ${instance.name} not checked: it is a privileged port that tf may not bind (EACCES); the process needs the right to bind it, or use a port from 1024 up`
            : `port ${instance.port} for ${instance.name} not checked: binding it failed with ${state.code}`,
      };
  }
}

/** What the probes found before the instances start. */
export interface PortReport {
  /** Ports that something else already listens on, or that tf could not check. */
  readonly warnings: Warning[];
  /** The ports found in use: a readiness probe there would hear their holder, not the instance. */
  readonly inUse: ReadonlySet<number>;
}

/**
 * Probes the plan's ports. The holders of the busy ones are looked up once for all. `bind` and
 * `holders` are for tests.
 */
export async function checkPorts(instances: readonly Instance[], bind: Bind = bindAndRelease, holders: HolderLookup = lookupHolders): Promise<PortReport> {
  const states: PortState[] = [];
  // A few at a time: all at once would hold a socket per instance of a large formation, one at
  // a time would make start wait a turn of the event loop per instance.
  for (let at = 0; at < instances.length; at += PROBES_AT_ONCE) {
    states.push(...(await Promise.all(instances.slice(at, at + PROBES_AT_ONCE).map((instance) => probePort(instance.port, bind)))));
  }
  const inUse = new Set(instances.filter((_, i) => states[i]?.kind === 'in-use').map((instance) => instance.port));
  const known = inUse.size > 0 ? await holders(HOLDER_LOOKUP_MS) : new Map<number, string>();
  return { warnings: instances.flatMap((instance, i) => warningFor(instance, states[i] as PortState, known) ?? []), inUse };
}
