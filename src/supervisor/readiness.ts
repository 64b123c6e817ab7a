import type { ClientRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Instance, OutputStream, ReadySpec } from '../domain.js';
import { realClock, type Clock } from '../host/clock.js';
import { listenersOfRun } from '../host/listeners.js';

/**
 * Watches one run of an instance until it is ready, as its type's ReadySpec says. A probe
 * only reports: it never kills or restarts, and it never rejects.
 */
export interface ReadinessWatch {
  /** Resolves once the run is ready; stays pending once cancelled. */
  readonly ready: Promise<void>;
  /**
   * Every chunk the run writes, for `log:` probes (which must match across chunk boundaries).
   * Give the stream when known: stdout and stderr interleave, and a match must not join the
   * end of one to the start of the other.
   */
  output(chunk: Buffer, stream?: OutputStream): void;
  /** The run ended or is being stopped: stop probing, free timers and sockets. */
  cancel(): void;
}

/**
 * Starts watching a freshly spawned run of `instance` (its port is `instance.port`); `pid` is
 * the run's, for a probe that must tell the run's own listener from another process's.
 */
export type ReadinessProbe = (instance: Instance, pid?: number) => ReadinessWatch;

/** The part of the Clock a probe uses: its timers. Tests pass fake ones. */
export type ProbeTimers = Pick<Clock, 'setTimeout' | 'clearTimeout'>;

export interface ProbeOptions {
  readonly scheduler?: ProbeTimers;
  /** The addresses to try for the instance's port; default: what `localhost` resolves to, plus 127.0.0.1 and ::1. */
  readonly hosts?: () => Promise<readonly string[]>;
  /** First wait between attempts; it doubles up to `maxDelayMs`. */
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
  /** Longest one connect or HTTP request may take before it counts as failed. */
  readonly attemptTimeoutMs?: number;
  /**
   * Ports another process listened on before the instances started: a `port` or `http` probe
   * there would hear that process, so it asks only where the run itself listens (see
   * `ownListeners`), and stays silent where tf cannot tell or was given no pid.
   */
  readonly takenPorts?: ReadonlySet<number>;
  /** The addresses where the run `pid` itself listens on `port`; undefined where tf cannot tell. Default: /proc. */
  readonly ownListeners?: (port: number, pid: number) => readonly string[] | undefined;
}

// Short and capped: "ready after N s" should lag the real moment by little, and a probe
// against a closed loopback port costs next to nothing.
const INITIAL_DELAY_MS = 25;
const MAX_DELAY_MS = 250;
const ATTEMPT_TIMEOUT_MS = 2000;

const FALLBACK_HOSTS = ['127.0.0.1', '::1'];

/**
 * A server may listen on IPv4 only, IPv6 only, or on whatever `localhost` means here
 * (which can be ::1 alone), so every candidate is tried.
 */
export const loopbackHosts = (): Promise<readonly string[]> =>
  new Promise((resolve) => {
    // node:dns only for a tcp or http probe: most starts have none.
    (require('node:dns') as typeof import('node:dns')).lookup('localhost', { all: true }, (error, addresses) => {
      const resolved = error === null ? addresses.map((a) => a.address) : [];
      resolve([...new Set([...resolved, ...FALLBACK_HOSTS])]);
    });
  });

type WatchState = { readonly kind: 'probing' } | { readonly kind: 'ready' } | { readonly kind: 'cancelled' };

/** The shared part of every watch: one promise, one state, and what to free on the way out. */
class Watch implements ReadinessWatch {
  readonly ready: Promise<void>;
  private state: WatchState = { kind: 'probing' };
  private resolveReady: () => void = () => undefined;
  private readonly cleanups = new Set<() => void>();

  constructor() {
    this.ready = new Promise((resolve) => {
      this.resolveReady = resolve;
    });
  }

  get probing(): boolean {
    return this.state.kind === 'probing';
  }

  /** Registers something to free on ready or cancel; returns its own remover. */
  hold(cleanup: () => void): () => void {
    this.cleanups.add(cleanup);
    return () => this.cleanups.delete(cleanup);
  }

  markReady(): void {
    if (this.state.kind !== 'probing') return;
    this.state = { kind: 'ready' };
    this.freeAll();
    this.resolveReady();
  }

  output(_chunk: Buffer, _stream?: OutputStream): void {}

  cancel(): void {
    if (this.state.kind !== 'probing') return;
    this.state = { kind: 'cancelled' };
    this.freeAll();
  }

  private freeAll(): void {
    const cleanups = [...this.cleanups];
    this.cleanups.clear();
    for (const cleanup of cleanups) cleanup();
  }
}

interface Retry {
  readonly scheduler: ProbeTimers;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly attemptTimeoutMs: number;
  readonly hosts: () => Promise<readonly string[]>;
}

const retryOf = (options: ProbeOptions): Retry => ({
  scheduler: options.scheduler ?? realClock,
  initialDelayMs: options.initialDelayMs ?? INITIAL_DELAY_MS,
  maxDelayMs: options.maxDelayMs ?? MAX_DELAY_MS,
  attemptTimeoutMs: options.attemptTimeoutMs ?? ATTEMPT_TIMEOUT_MS,
  hosts: options.hosts ?? loopbackHosts,
});

/** One attempt: resolves true when the instance answered as ready. Must settle after its cleanup runs. */
type Attempt = (hosts: readonly string[], watch: Watch) => Promise<boolean>;

/** Runs attempts until one succeeds or the watch is cancelled, waiting with a capped doubling delay between them. */
function poll(watch: Watch, retry: Retry, attempt: Attempt): void {
  let delay = retry.initialDelayMs;
  const run = async (): Promise<void> => {
    const hosts = await retry.hosts();
    while (watch.probing) {
      if (await attempt(hosts, watch)) {
        watch.markReady();
        return;
      }
      if (!watch.probing) return;
      await new Promise<void>((resolve) => {
        const timer = retry.scheduler.setTimeout(() => {
          release();
          resolve();
        }, delay);
        // Cancelling settles the wait too, so this loop ends instead of hanging on a freed timer.
        const release = watch.hold(() => {
          retry.scheduler.clearTimeout(timer);
          resolve();
        });
      });
      delay = Math.min(delay * 2, retry.maxDelayMs);
    }
  };
  // Nothing in run() rejects; the catch keeps a bug here from becoming an unhandled rejection.
  run().catch(() => undefined);
}

/** Resolves true once a TCP connect to host:port succeeds; the socket is closed at once. */
function tcpConnects(host: string, port: number, watch: Watch, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let socket: Socket;
    try {
      socket = connect({ host, port });
    } catch {
      // A port out of range throws at once; a probe never rejects, so it just never connects.
      resolve(false);
      return;
    }
    const done = (ok: boolean): void => {
      release();
      socket.destroy();
      resolve(ok);
    };
    const release = watch.hold(() => done(false));
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.on('error', () => done(false));
  });
}

/** True when any of the hosts accepts a connection on the port. */
const portAttempt =
  (port: number, timeoutMs: number): Attempt =>
  async (hosts, watch) => {
    const results = hosts.map((host) => tcpConnects(host, port, watch, timeoutMs));
    // First success wins; the others are closed when the watch turns ready.
    return new Promise<boolean>((resolve) => {
      let pending = results.length;
      if (pending === 0) resolve(false);
      for (const result of results) {
        void result.then((ok) => {
          pending--;
          if (ok) resolve(true);
          else if (pending === 0) resolve(false);
        });
      }
    });
  };

type HttpResult = { readonly kind: 'answered'; readonly status: number } | { readonly kind: 'unreachable' };

function httpGet(host: string, port: number, path: string, watch: Watch, timeoutMs: number): Promise<HttpResult> {
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result: HttpResult): void => {
      if (settled) return;
      settled = true;
      release();
      req.destroy();
      resolve(result);
    };
    let req: ClientRequest;
    try {
      // No agent: a kept-alive socket would outlive the probe.
      // node:http only for an http probe: most starts have none.
      req = (require('node:http') as typeof import('node:http')).request({
        host,
        port,
        path,
        method: 'GET',
        agent: false,
        headers: { host: `localhost:${port}`, connection: 'close' },
      });
    } catch {
      // A port out of range or a path node:http refuses throws at once; never reject.
      resolve({ kind: 'unreachable' });
      return;
    }
    const release = watch.hold(() => finish({ kind: 'unreachable' }));
    req.setTimeout(timeoutMs, () => finish({ kind: 'unreachable' }));
    req.on('error', () => finish({ kind: 'unreachable' }));
    req.once('response', (res) => {
      // Destroying the request may fail the response stream; nothing here needs its body.
      res.on('error', () => undefined);
      res.resume();
      finish({ kind: 'answered', status: res.statusCode ?? 0 });
    });
    req.end();
  });
}

/**
 * Tries the hosts in order, starting with the one that answered last time; the first that
 * answers decides (below 500 is ready), so one attempt never sends two requests that
 * reach the app.
 */
function httpAttempt(port: number, path: string, timeoutMs: number): Attempt {
  let preferred: string | undefined;
  return async (hosts, watch) => {
    const order = preferred === undefined ? hosts : [preferred, ...hosts.filter((h) => h !== preferred)];
    for (const host of order) {
      if (!watch.probing) return false;
      const result = await httpGet(host, port, path, watch, timeoutMs);
      if (result.kind === 'answered') {
        preferred = host;
        return result.status < 500;
      }
    }
    return false;
  };
}

/** Finds `text` in the output, across chunk boundaries, keeping only as much as a split match needs. */
class LogWatch extends Watch {
  private readonly needle: Buffer;
  private readonly tails = new Map<OutputStream | 'any', Buffer>();

  constructor(text: string) {
    super();
    this.needle = Buffer.from(text, 'utf8');
  }

  override output(chunk: Buffer, stream?: OutputStream): void {
    if (!this.probing) return;
    const key = stream ?? 'any';
    const tail = this.tails.get(key);
    const haystack = tail === undefined || tail.length === 0 ? chunk : Buffer.concat([tail, chunk]);
    if (haystack.includes(this.needle)) {
      this.tails.clear();
      this.markReady();
      return;
    }
    // Copied: output chunks are lent and may be reused once this call returns.
    const keep = Math.min(this.needle.length - 1, haystack.length);
    this.tails.set(key, Buffer.from(haystack.subarray(haystack.length - keep)));
  }

  override cancel(): void {
    this.tails.clear();
    super.cancel();
  }
}

/** The probe for one ReadySpec; `options` are for tests (fake timers, fixed hosts). */
export function probeFor(spec: ReadySpec, options: ProbeOptions = {}): ReadinessProbe {
  switch (spec.kind) {
    case 'none':
      return () => {
        const watch = new Watch();
        watch.markReady();
        return watch;
      };
    case 'log':
      return () => new LogWatch(spec.text);
    case 'port':
      return (instance, pid) => {
        const retry = retryOf(options);
        return probing(instance, pid, retry, options, portAttempt(instance.port, retry.attemptTimeoutMs));
      };
    case 'http':
      return (instance, pid) => {
        const retry = retryOf(options);
        return probing(instance, pid, retry, options, httpAttempt(instance.port, spec.path, retry.attemptTimeoutMs));
      };
  }
}

/**
 * A watch polling `attempt`. On a port another process held before start, each attempt goes
 * only to the addresses where the run itself listens, so the holder is never heard (nor sent a
 * request); where that cannot be told, the watch stays silent.
 */
function probing(instance: Instance, pid: number | undefined, retry: Retry, options: ProbeOptions, attempt: Attempt): ReadinessWatch {
  const watch = new Watch();
  if (options.takenPorts?.has(instance.port) !== true) {
    poll(watch, retry, attempt);
    return watch;
  }
  const own = options.ownListeners ?? listenersOfRun;
  if (pid === undefined || own(instance.port, pid) === undefined) return watch;
  const ownOnly: Attempt = async (_hosts, current) => {
    const hosts = own(instance.port, pid) ?? [];
    return hosts.length > 0 && (await attempt(hosts, current));
  };
  poll(watch, { ...retry, hosts: async () => [] }, ownOnly);
  return watch;
}

/** Watches `instance` with its own type's probe. */
export const watchReadiness =
  (options: ProbeOptions = {}): ReadinessProbe =>
  (instance, pid) =>
    probeFor(instance.policy.ready, options)(instance, pid);
