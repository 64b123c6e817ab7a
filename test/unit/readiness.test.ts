import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultPolicy, type Instance, type ReadySpec } from '../../src/domain.js';
import { probeFor, watchReadiness, type ProbeTimers, type ReadinessWatch } from '../../src/supervisor/readiness.js';

const instanceOn = (port: number, ready: ReadySpec = { kind: 'port' }): Instance => ({
  name: 'web.1',
  type: 'web',
  number: 1,
  command: 'true',
  launch: { file: '/bin/sh', args: ['-c', 'true'] },
  env: {},
  port,
  cwd: '/',
  color: 0,
  policy: { ...defaultPolicy('web'), ready },
});

/** A scheduler whose timers run only when the test says so. */
class ManualScheduler implements ProbeTimers {
  readonly delays: number[] = [];
  private readonly pending = new Map<number, () => void>();
  private next = 0;
  private waiters: (() => void)[] = [];

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.pending.set(id, fn);
    this.delays.push(ms);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  get size(): number {
    return this.pending.size;
  }

  /** Resolves once a timer is pending: the attempt before it has failed. */
  timerSet(): Promise<void> {
    return this.pending.size > 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }

  fire(): void {
    const due = [...this.pending.values()];
    this.pending.clear();
    for (const fn of due) fn();
  }
}

const listen = (server: Server | HttpServer, host: string, port = 0): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, ipv6Only: host.includes(':') }, () => {
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : -1);
    });
  });

const close = (server: Server | HttpServer): Promise<void> => new Promise((resolve) => server.close(() => resolve()));

/** A port nobody listens on: bound once to learn a free number, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server, '127.0.0.1');
  await close(server);
  return port;
}

const canListenOn = async (host: string): Promise<boolean> => {
  const server = createServer();
  try {
    await listen(server, host);
    await close(server);
    return true;
  } catch {
    return false;
  }
};

const HAS_IPV6_LOOPBACK = await canListenOn('::1');
if (!HAS_IPV6_LOOPBACK) console.log('readiness: skipping the IPv6 tests: this machine cannot listen on ::1');

/** Counts this process's live sockets and timers, as Node lists them. */
interface Resources {
  readonly sockets: number;
  readonly timers: number;
}

const resources = (): Resources => {
  const counts: Record<string, number> = {};
  for (const name of process.getActiveResourcesInfo()) counts[name] = (counts[name] ?? 0) + 1;
  return { sockets: counts.TCPSocketWrap ?? 0, timers: counts.Timeout ?? 0 };
};

/** Lets closed handles finish closing: close callbacks run after the check phase of a loop turn. */
async function settleHandles(before: Resources): Promise<void> {
  for (let turn = 0; turn < 20 && JSON.stringify(resources()) !== JSON.stringify(before); turn++) {
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** The baseline, once the sockets earlier tests closed have finished closing. */
async function quietResources(): Promise<Resources> {
  for (let turn = 0; turn < 20 && resources().sockets > 0; turn++) await new Promise((resolve) => setImmediate(resolve));
  return resources();
}

const state = async (watch: ReadinessWatch): Promise<'ready' | 'pending'> =>
  Promise.race([watch.ready.then(() => 'ready' as const), new Promise<'pending'>((resolve) => setImmediate(() => resolve('pending')))]);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const serve = async <T extends Server | HttpServer>(server: T, host: string, port = 0): Promise<number> => {
  const bound = await listen(server, host, port);
  cleanups.push(() => {
    (server as HttpServer).closeAllConnections?.();
    return close(server);
  });
  return bound;
};

describe('none', () => {
  it('is ready at once', async () => {
    const watch = probeFor({ kind: 'none' })(instanceOn(1));
    expect(await state(watch)).toBe('ready');
  });
});

describe('log:TEXT', { timeout: 5000 }, () => {
  const watchFor = (text: string): ReadinessWatch => probeFor({ kind: 'log', text })(instanceOn(1, { kind: 'log', text }));

  it.each([
    // [chunks, ready?]
    [['Listening on 5000\n'], true], // in one chunk
    [['boot\nListen', 'ing on 5000\n'], true], // split across two chunks
    [['L', 'i', 's', 't', 'e', 'n', 'i', 'n', 'g', ' ', 'o', 'n'], true], // one byte at a time
    [['Listening o', 'ff\n'], false], // a prefix is not a match
    [['listening on\n'], false], // case matters
    [['Listen\n', 'xxxxxxxxxxxxxxxxxxx', 'ing on'], false], // the tail is only as long as a split match needs
  ] as const)('%j -> %s', async (chunks, ready) => {
    const watch = watchFor('Listening on');
    for (const chunk of chunks) watch.output(Buffer.from(chunk));
    expect(await state(watch)).toBe(ready ? 'ready' : 'pending');
    watch.cancel();
  });

  it('matches text split inside a multi-byte character', async () => {
    const watch = watchFor('prêt');
    const bytes = Buffer.from('tout est prêt\n');
    const cut = bytes.indexOf(0xc3) + 1; // between the two bytes of ê
    watch.output(bytes.subarray(0, cut));
    expect(await state(watch)).toBe('pending');
    watch.output(bytes.subarray(cut));
    expect(await state(watch)).toBe('ready');
  });

  it('does not join the end of stdout to the start of stderr', async () => {
    const watch = watchFor('Ready');
    watch.output(Buffer.from('Rea'), 'stdout');
    watch.output(Buffer.from('dy'), 'stderr');
    expect(await state(watch)).toBe('pending');
    watch.output(Buffer.from('dy'), 'stdout');
    expect(await state(watch)).toBe('ready');
  });

  it('copies the tail it keeps: output chunks are lent and reused', async () => {
    const watch = watchFor('Ready');
    const lent = Buffer.from('xxRea');
    watch.output(lent);
    lent.fill(0x2e); // the caller reuses its buffer
    watch.output(Buffer.from('dy'));
    expect(await state(watch)).toBe('ready');
  });

  it('stays pending once cancelled, even if the text comes later', async () => {
    const watch = watchFor('Ready');
    watch.cancel();
    watch.output(Buffer.from('Ready\n'));
    expect(await state(watch)).toBe('pending');
  });
});

describe('port', { timeout: 10_000 }, () => {
  it('is ready when an IPv4-only server listens on 127.0.0.1', async () => {
    const port = await serve(
      createServer((s) => s.destroy()),
      '127.0.0.1',
    );
    const watch = probeFor({ kind: 'port' })(instanceOn(port));
    await watch.ready;
  });

  it.skipIf(!HAS_IPV6_LOOPBACK)('is ready when an IPv6-only server listens on ::1', async () => {
    const port = await serve(
      createServer((s) => s.destroy()),
      '::1',
    );
    // Default hosts: whatever localhost resolves to, plus both loopbacks.
    const watch = probeFor({ kind: 'port' })(instanceOn(port));
    await watch.ready;
  });

  it('waits for a port that opens later, backing off with a cap', async () => {
    const scheduler = new ManualScheduler();
    const port = await closedPort();
    const watch = probeFor({ kind: 'port' }, { scheduler, hosts: async () => ['127.0.0.1', '::1'] })(instanceOn(port));
    for (let attempt = 0; attempt < 6; attempt++) {
      await scheduler.timerSet();
      expect(await state(watch)).toBe('pending');
      scheduler.fire();
    }
    expect(scheduler.delays).toEqual([25, 50, 100, 200, 250, 250]);
    await scheduler.timerSet();
    await serve(
      createServer((s) => s.destroy()),
      '127.0.0.1',
      port,
    );
    scheduler.fire();
    await watch.ready;
    expect(scheduler.size).toBe(0);
  });

  /** The real timers, counted, so a test can wait for the nth retry without sleeping. */
  const countingScheduler = (): ProbeTimers & { retries(n: number): Promise<void> } => {
    let set = 0;
    let waiting: { n: number; resolve: () => void }[] = [];
    return {
      setTimeout: (fn, ms) => {
        set++;
        for (const w of waiting.filter((w) => set >= w.n)) w.resolve();
        waiting = waiting.filter((w) => set < w.n);
        return setTimeout(fn, ms);
      },
      clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
      retries: (n) => (set >= n ? Promise.resolve() : new Promise((resolve) => waiting.push({ n, resolve }))),
    };
  };

  it('frees every timer and socket when cancelled during its back-off on a port that never opens', async () => {
    const before = await quietResources();
    const scheduler = countingScheduler();
    const watch = watchReadiness({ scheduler, initialDelayMs: 1, maxDelayMs: 2 })(instanceOn(await closedPort()));
    await scheduler.retries(5);
    watch.cancel();
    await settleHandles(before);
    expect(resources()).toEqual(before);
    expect(await state(watch)).toBe('pending');
  });

  it('clears a pending back-off timer when cancelled', async () => {
    const before = await quietResources();
    const scheduler = countingScheduler();
    // A long wait: only cancel() can make this timer go away before the test ends.
    const watch = watchReadiness({ scheduler, initialDelayMs: 60_000 })(instanceOn(await closedPort()));
    await scheduler.retries(1);
    expect(resources().timers).toBe(before.timers + 1);
    watch.cancel();
    await settleHandles(before);
    expect(resources()).toEqual(before);
  });

  it('frees its sockets when cancelled while connecting', async () => {
    const before = await quietResources();
    const watch = probeFor({ kind: 'port' }, { hosts: async () => ['127.0.0.1', '::1'] })(instanceOn(await closedPort()));
    await Promise.resolve(); // the hosts are known; the connects are under way
    watch.cancel();
    await settleHandles(before);
    expect(resources()).toEqual(before);
    expect(await state(watch)).toBe('pending');
  });
});

describe('a port no connect can reach', { timeout: 10_000 }, () => {
  it.each([
    [{ kind: 'port' }], // net.connect throws at once for a port out of range
    [{ kind: 'http', path: '/' }], // so does http.request
  ] as const)('%j keeps probing without rejecting or throwing', async (spec) => {
    const scheduler = new ManualScheduler();
    const watch = probeFor(spec, { scheduler, hosts: async () => ['127.0.0.1'] })(instanceOn(70000));
    await scheduler.timerSet();
    scheduler.fire();
    await scheduler.timerSet();
    expect(await state(watch)).toBe('pending');
    watch.cancel();
    expect(scheduler.size).toBe(0);
  });
});

describe('a port another process held before the instance started', { timeout: 10_000 }, () => {
  it.each([{ kind: 'port' }, { kind: 'http', path: '/' }] as ReadySpec[])(
    'never reports %o ready without a pid, and never asks the holder: it would hear that process',
    async (spec) => {
      let asked = 0;
      const port = await serve(
        createServer((s) => {
          asked++;
          s.destroy();
        }),
        '127.0.0.1',
      );
      const scheduler = new ManualScheduler();
      const watch = watchReadiness({ scheduler, takenPorts: new Set([port]) })(instanceOn(port, spec));
      expect(await state(watch)).toBe('pending');
      expect(scheduler.size).toBe(0);
      expect(asked).toBe(0);
      watch.cancel();
    },
  );

  it.each([{ kind: 'port' }, { kind: 'http', path: '/' }] as ReadySpec[])(
    'asks for %o only where the run itself listens: never the holder, and ready once the run listens',
    async (spec) => {
      let holderAsked = 0;
      const port = await serve(
        createServer((s) => {
          holderAsked++;
          s.destroy();
        }),
        '127.0.0.1',
      );
      let own: string[] = [];
      const asked: [number, number][] = [];
      const scheduler = new ManualScheduler();
      const watch = watchReadiness({ scheduler, takenPorts: new Set([port]), ownListeners: (p, pid) => (asked.push([p, pid]), own) })(
        instanceOn(port, spec),
        4242,
      );
      for (let round = 0; round < 3; round++) {
        await scheduler.timerSet();
        expect(await state(watch)).toBe('pending');
        scheduler.fire();
      }
      expect(asked.length).toBeGreaterThan(3);
      expect(asked.every(([p, pid]) => p === port && pid === 4242)).toBe(true);
      // The run now listens on the same port at another address, beside the holder.
      const bound = await serve(
        createHttpServer((_req, res) => res.end('ok')),
        '127.0.0.2',
        port,
      ).catch(() => undefined);
      if (bound === undefined) return void console.log('readiness: skipping the rest of a taken-port test: 127.0.0.2 cannot be bound here');
      own = ['127.0.0.2'];
      await scheduler.timerSet();
      scheduler.fire();
      await watch.ready;
      expect(holderAsked).toBe(0);
    },
  );

  it('stays silent where tf cannot tell whose listener it is', async () => {
    const scheduler = new ManualScheduler();
    const watch = watchReadiness({ scheduler, takenPorts: new Set([5000]), ownListeners: () => undefined })(instanceOn(5000), 4242);
    expect(await state(watch)).toBe('pending');
    expect(scheduler.size).toBe(0);
    watch.cancel();
  });
});

describe('http', { timeout: 10_000 }, () => {
  it('waits through a 500 and is ready on the 200, asking the configured path', async () => {
    const seen: string[] = [];
    const server = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
      seen.push(req.url ?? '');
      res.statusCode = seen.length === 1 ? 500 : 200;
      res.end();
    });
    const port = await serve(server, '127.0.0.1');
    const scheduler = new ManualScheduler();
    const watch = probeFor({ kind: 'http', path: '/health' }, { scheduler })(instanceOn(port));
    await scheduler.timerSet(); // the 500 came back: not ready, a retry is due
    expect(await state(watch)).toBe('pending');
    expect(seen).toEqual(['/health']);
    scheduler.fire();
    await watch.ready;
    expect(seen).toEqual(['/health', '/health']);
    expect(scheduler.size).toBe(0);
  });

  it('counts a 404 as ready: the server answers', async () => {
    const port = await serve(
      createHttpServer((_req, res) => {
        res.statusCode = 404;
        res.end();
      }),
      '127.0.0.1',
    );
    await probeFor({ kind: 'http', path: '/' })(instanceOn(port)).ready;
  });

  it.skipIf(!HAS_IPV6_LOOPBACK)('reaches a server on ::1 only', async () => {
    const port = await serve(
      createHttpServer((_req, res) => res.end('ok')),
      '::1',
    );
    await probeFor({ kind: 'http', path: '/' })(instanceOn(port)).ready;
  });

  it('retries a refused connection until the server listens', async () => {
    const scheduler = new ManualScheduler();
    const port = await closedPort();
    const watch = probeFor({ kind: 'http', path: '/' }, { scheduler, hosts: async () => ['127.0.0.1', '::1'] })(instanceOn(port));
    await scheduler.timerSet();
    expect(await state(watch)).toBe('pending');
    await serve(
      createHttpServer((_req, res) => res.end('ok')),
      '127.0.0.1',
      port,
    );
    scheduler.fire();
    await watch.ready;
  });

  it('frees a request in flight when cancelled', async () => {
    const before = await quietResources();
    let clientClosed!: Promise<void>;
    const connected = new Promise<void>((resolve) => {
      const server = createServer((socket: Socket) => {
        // Accepts and never answers, so the request stays in flight.
        clientClosed = new Promise((closed) => socket.on('close', () => closed()));
        socket.on('error', () => undefined);
        resolve();
      });
      cleanups.push(() => close(server));
      void listen(server, '127.0.0.1').then((port) => {
        watch = probeFor({ kind: 'http', path: '/' }, { hosts: async () => ['127.0.0.1'] })(instanceOn(port));
      });
    });
    let watch: ReadinessWatch | undefined;
    await connected;
    watch?.cancel();
    await clientClosed;
    expect(await state(watch as ReadinessWatch)).toBe('pending');
    await settleHandles(before);
    expect(resources()).toEqual(before);
  });
});
