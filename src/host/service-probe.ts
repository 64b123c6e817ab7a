import type { ClientRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { TfError } from '../errors.js';

// Loaded on the first probe: `tf start` imports this module, and https (TLS) alone is a
// noticeable part of a start that may probe nothing. The global `performance` too: it loads
// node:perf_hooks on first use.
const dns = (): typeof import('node:dns') => require('node:dns') as typeof import('node:dns');
const httpRequest = (url: string, options: import('node:http').RequestOptions): ClientRequest =>
  (require('node:http') as typeof import('node:http')).request(url, options);
const httpsRequest = (url: string, options: import('node:https').RequestOptions): ClientRequest =>
  (require('node:https') as typeof import('node:https')).request(url, options);

/**
 * Network probes of backing services: a TCP connect to every address a host resolves to (IPv4
 * and IPv6: `localhost` may be ::1 alone), and an HTTP GET for http(s) resources. A probe never
 * rejects and never prints: it returns what it saw, and its callers name the resource by a
 * label they have already masked. Error texts are built here from error codes and addresses,
 * never from a URL, so no credential can reach them; for a target whose URL was encrypted, not
 * even its hosts, addresses and ports (see `ProbeTarget.redact`).
 */

export interface ProbeAddress {
  readonly host: string;
  /** Undefined when the scheme has no default port (mongodb+srv names an SRV record): not probed. */
  readonly port: number | undefined;
}

export interface ProbeTarget {
  /** How every message names the resource: a masked URL, maybe with its variable. */
  readonly label: string;
  readonly addresses: readonly ProbeAddress[];
  /** For http(s) resources: the URL to GET. Never printed. */
  readonly httpUrl?: string;
  /**
   * What error texts show in place of a host, an address or a port: set for a URL that was
   * encrypted, where the place it points at is as secret as its password. The report's
   * `addresses` still hold them, for the caller to leave out.
   */
  readonly redact?: string;
}

export type Outcome = { readonly kind: 'up'; readonly latencyMs: number } | { readonly kind: 'down'; readonly latencyMs: number; readonly error: string };

export interface AddressReport {
  /** The host as the URL names it. */
  readonly host: string;
  /** The address it resolved to; undefined when resolution failed. */
  readonly address: string | undefined;
  readonly port: number;
  readonly outcome: Outcome;
}

export interface HttpReport {
  /** The response status; undefined when no response came. */
  readonly status: number | undefined;
  readonly outcome: Outcome;
}

export type ProbeState =
  /** Some address accepts connections (and an http(s) GET answers below 500). */
  | { readonly kind: 'up'; readonly latencyMs: number }
  /** Nothing answered; `error` summarises why, per address. */
  | { readonly kind: 'down'; readonly error: string }
  /** Nothing to connect to: no port known. */
  | { readonly kind: 'skipped'; readonly reason: string };

export interface ProbeReport {
  readonly label: string;
  readonly state: ProbeState;
  readonly addresses: readonly AddressReport[];
  readonly http?: HttpReport;
}

export type Lookup = (host: string) => Promise<readonly { address: string; family: number }[]>;

export interface ProbeOptions {
  /** Longest one connect, lookup or GET may take. */
  readonly timeoutMs?: number;
  readonly lookup?: Lookup;
  readonly signal?: AbortSignal;
}

// A probe answers "is it there now": a service slower than this to accept a connection is
// reported down with "timeout", which is what a user needs to know about it.
const PROBE_TIMEOUT_MS = 2000;

const dnsAll: Lookup = (host) =>
  new Promise((resolve, reject) => {
    dns().lookup(host, { all: true }, (error, addresses) => (error === null ? resolve(addresses) : reject(error)));
  });

const elapsed = (since: number): number => Math.round(performance.now() - since);
const seconds = (ms: number): string => `${Math.round(ms / 100) / 10}s`;
const hostPort = (address: string, port: number): string => (address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`);

/**
 * The code of a Node error (ECONNREFUSED, ENOTFOUND...), else its message: neither holds a URL.
 * A message may name the host it failed on, so a redacted target gets none.
 */
function errorText(error: unknown, redact: string | undefined): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  if (redact !== undefined) return 'failed';
  return error instanceof Error ? error.message : String(error);
}

/** Runs `body` with a deadline: it resolves with `onTimeout()` when the deadline comes first. */
function withDeadline<T>(
  ms: number,
  signal: AbortSignal | undefined,
  body: (settle: (value: T) => void, onCancel: (cleanup: () => void) => void) => void,
  onTimeout: () => T,
): Promise<T> {
  return new Promise((resolve) => {
    const cleanups: (() => void)[] = [];
    let settled = false;
    const settle = (value: T): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', abort);
      for (const cleanup of cleanups) cleanup();
      resolve(value);
    };
    const timer = setTimeout(() => settle(onTimeout()), ms);
    const abort = (): void => settle(onTimeout());
    if (signal?.aborted === true) {
      queueMicrotask(abort);
    } else {
      signal?.addEventListener('abort', abort, { once: true });
    }
    body(settle, (cleanup) => cleanups.push(cleanup));
  });
}

/** One probe's time: every step gets what is left of it, so a probe ends by its deadline. */
interface Budget {
  readonly deadline: number;
  /** The whole probe's bound, for "timeout after" messages. */
  readonly totalMs: number;
}

const left = (budget: Budget): number => Math.max(1, budget.deadline - performance.now());

function tcpProbe(address: string, port: number, budget: Budget, signal: AbortSignal | undefined, redact: string | undefined): Promise<Outcome> {
  const started = performance.now();
  return withDeadline<Outcome>(
    left(budget),
    signal,
    (settle, onCancel) => {
      let socket: Socket;
      try {
        socket = connect({ host: address, port });
      } catch (error) {
        settle({ kind: 'down', latencyMs: elapsed(started), error: errorText(error, redact) });
        return;
      }
      onCancel(() => socket.destroy());
      socket.once('connect', () => settle({ kind: 'up', latencyMs: elapsed(started) }));
      socket.once('error', (error) => settle({ kind: 'down', latencyMs: elapsed(started), error: errorText(error, redact) }));
    },
    () => ({ kind: 'down', latencyMs: elapsed(started), error: signal?.aborted === true ? 'cancelled' : `timeout after ${seconds(budget.totalMs)}` }),
  );
}

function httpProbe(url: string, budget: Budget, signal: AbortSignal | undefined, redact: string | undefined): Promise<HttpReport> {
  const started = performance.now();
  return withDeadline<HttpReport>(
    left(budget),
    signal,
    (settle, onCancel) => {
      let req: ClientRequest;
      try {
        // No agent: a kept-alive socket would hold tf's event loop open after the probe.
        req = (url.toLowerCase().startsWith('https:') ? httpsRequest : httpRequest)(url, { method: 'GET', agent: false });
      } catch (error) {
        settle({ status: undefined, outcome: { kind: 'down', latencyMs: elapsed(started), error: errorText(error, redact) } });
        return;
      }
      onCancel(() => req.destroy());
      req.once('response', (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        const latencyMs = elapsed(started);
        settle({ status, outcome: status < 500 ? { kind: 'up', latencyMs } : { kind: 'down', latencyMs, error: `HTTP ${status}` } });
      });
      req.once('error', (error) => settle({ status: undefined, outcome: { kind: 'down', latencyMs: elapsed(started), error: errorText(error, redact) } }));
      req.end();
    },
    () => ({
      status: undefined,
      outcome: { kind: 'down', latencyMs: elapsed(started), error: signal?.aborted === true ? 'cancelled' : `timeout after ${seconds(budget.totalMs)}` },
    }),
  );
}

async function probeAddress(
  target: ProbeAddress & { port: number },
  budget: Budget,
  options: { readonly lookup: Lookup; readonly signal?: AbortSignal | undefined; readonly redact: string | undefined },
): Promise<AddressReport[]> {
  const started = performance.now();
  const resolved = await withDeadline<{ address: string }[] | string>(
    left(budget),
    options.signal,
    (settle) => {
      options.lookup(target.host).then(
        (all) => settle([...new Map(all.map((a) => [a.address, a])).values()]),
        (error: unknown) => settle(errorText(error, options.redact)),
      );
    },
    () => (options.signal?.aborted === true ? 'lookup cancelled' : `lookup timeout after ${seconds(budget.totalMs)}`),
  );
  if (typeof resolved === 'string' || resolved.length === 0) {
    const error = `${typeof resolved === 'string' ? resolved : 'ENOTFOUND'} ${options.redact ?? target.host}`;
    return [{ host: target.host, address: undefined, port: target.port, outcome: { kind: 'down', latencyMs: elapsed(started), error } }];
  }
  return Promise.all(
    resolved.map(async ({ address }) => ({
      host: target.host,
      address,
      port: target.port,
      outcome: await tcpProbe(address, target.port, budget, options.signal, options.redact),
    })),
  );
}

function summary(addresses: readonly AddressReport[], http: HttpReport | undefined, redact: string | undefined): ProbeState {
  const upAddress = addresses.find((a) => a.outcome.kind === 'up');
  if (upAddress !== undefined && (http === undefined || http.outcome.kind === 'up')) {
    return { kind: 'up', latencyMs: http?.outcome.latencyMs ?? upAddress.outcome.latencyMs };
  }
  if (upAddress !== undefined && http !== undefined && http.outcome.kind === 'down') return { kind: 'down', error: http.outcome.error };
  const errors = addresses.map((a) => {
    const outcome = a.outcome as Extract<Outcome, { kind: 'down' }>;
    return a.address === undefined ? outcome.error : `${outcome.error} ${redact ?? hostPort(a.address, a.port)}`;
  });
  return { kind: 'down', error: [...new Set(errors)].join('; ') };
}

/** One probe of one resource: every address, then the GET when some address answered; all within `timeoutMs`. */
export async function probe(target: ProbeTarget, options: ProbeOptions = {}): Promise<ProbeReport> {
  const totalMs = options.timeoutMs ?? PROBE_TIMEOUT_MS;
  const budget: Budget = { deadline: performance.now() + totalMs, totalMs };
  const settings = { lookup: options.lookup ?? dnsAll, signal: options.signal, redact: target.redact };
  const probeable = target.addresses.filter((a): a is ProbeAddress & { port: number } => a.port !== undefined);
  if (probeable.length === 0) {
    return { label: target.label, state: { kind: 'skipped', reason: 'no port to connect to (the scheme has no default port)' }, addresses: [] };
  }
  const addresses = (await Promise.all(probeable.map((a) => probeAddress(a, budget, settings)))).flat();
  const anyUp = addresses.some((a) => a.outcome.kind === 'up');
  const http = target.httpUrl !== undefined && anyUp ? await httpProbe(target.httpUrl, budget, options.signal, target.redact) : undefined;
  return { label: target.label, state: summary(addresses, http, target.redact), addresses, ...(http === undefined ? {} : { http }) };
}

/** Probes every target, at most `concurrency` at a time, reports in target order. */
export async function probeAll(targets: readonly ProbeTarget[], options: ProbeOptions & { readonly concurrency?: number } = {}): Promise<ProbeReport[]> {
  const reports: ProbeReport[] = new Array(targets.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < targets.length) {
      const index = next++;
      reports[index] = await probe(targets[index] as ProbeTarget, options);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 8, targets.length) }, worker));
  return reports;
}

export interface WaitOptions {
  /** The whole wait's bound (`--wait-timeout`). */
  readonly timeoutMs: number;
  /** First pause between attempts; it doubles up to `maxDelayMs`. */
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly lookup?: Lookup;
  readonly signal?: AbortSignal;
  /** Called after each failed attempt, e.g. for a "waiting for" line. */
  readonly onRetry?: (report: ProbeReport, attempt: number) => void;
}

// Short first pauses catch a service that is just starting; the cap keeps a long wait from
// hammering one that is not.
const INITIAL_DELAY_MS = 100;
const MAX_DELAY_MS = 2000;

const pause = (ms: number, signal: AbortSignal | undefined): Promise<void> =>
  new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * Resolves once the target is up; rejects with a TfError naming the target's (masked) label
 * and the last error once `timeoutMs` has passed. Each attempt is bounded by what is left.
 */
export async function waitUntilUp(target: ProbeTarget, options: WaitOptions): Promise<ProbeReport> {
  const deadline = performance.now() + options.timeoutMs;
  let delay = options.initialDelayMs ?? INITIAL_DELAY_MS;
  let attempt = 0;
  // The error worth reporting: the last attempt may only have run out of the time left.
  let telling: string | undefined;
  for (;;) {
    attempt++;
    const left = Math.max(1, deadline - performance.now());
    const report = await probe(target, {
      timeoutMs: Math.min(PROBE_TIMEOUT_MS, left),
      ...(options.lookup === undefined ? {} : { lookup: options.lookup }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    if (report.state.kind === 'up') return report;
    if (report.state.kind === 'skipped') {
      throw new TfError('service', `cannot wait for ${target.label}: ${report.state.reason}`, { hint: 'put the port in its URL, or leave it out of --wait' });
    }
    const last = report.state.error;
    if (telling === undefined || !/timeout after/.test(last)) telling = last;
    const remaining = deadline - performance.now();
    if (remaining <= 0 || options.signal?.aborted === true) {
      throw new TfError('service', `${target.label} did not accept connections within ${seconds(options.timeoutMs)} (last error: ${telling})`, {
        hint: 'start it or fix its URL, or allow longer with --wait-timeout',
      });
    }
    options.onRetry?.(report, attempt);
    await pause(Math.min(delay, remaining), options.signal);
    delay = Math.min(delay * 2, options.maxDelayMs ?? MAX_DELAY_MS);
  }
}
