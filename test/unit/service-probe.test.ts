import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { bootReport, listServices, waitFor } from '../../src/commands/services.js';
import { MASK } from '../../src/config/mask.js';
import { TfError } from '../../src/errors.js';
import { probe, probeAll, type Lookup } from '../../src/host/service-probe.js';

const servers: (Server | HttpServer)[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

/** Listens on host (IPv6 only for an IPv6 host) and resolves with the port. */
const listen = (server: Server | HttpServer, host: string, port = 0): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, ipv6Only: host.includes(':') }, () => {
      servers.push(server);
      const address = server.address();
      resolve(typeof address === 'object' && address !== null ? address.port : 0);
    });
  });

/** A tcp server that drops every connection as soon as it is made. */
const tcpServer = (): Server => createServer((socket) => socket.destroy());

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server, '127.0.0.1');
  servers.splice(servers.indexOf(server), 1);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const ipv6Available = await (async () => {
  const server = createServer();
  try {
    await listen(server, '::1');
    return undefined;
  } catch (error) {
    return `IPv6 loopback unavailable here (${(error as NodeJS.ErrnoException).code})`;
  } finally {
    servers.splice(servers.indexOf(server), 1);
    server.close();
  }
})();

/** `localhost` as a dual-stack machine resolves it, whatever this one's resolver says. */
const bothLoopbacks: Lookup = async () => [
  { address: '127.0.0.1', family: 4 },
  { address: '::1', family: 6 },
];

const capture = (): { stream: Writable; text: () => string } => {
  let text = '';
  return {
    stream: new Writable({
      write(chunk, _encoding, callback) {
        text += String(chunk);
        callback();
      },
    }),
    text: () => text,
  };
};

describe('probe', { timeout: 10_000 }, () => {
  it('connects to every resolved address: an IPv4-only server is up on 127.0.0.1 and refused on ::1', async () => {
    const port = await listen(tcpServer(), '127.0.0.1');
    const report = await probe({ label: 'x', addresses: [{ host: 'localhost', port }] }, { lookup: bothLoopbacks, timeoutMs: 2000 });
    expect(report.state.kind).toBe('up');
    expect(report.addresses.map((a) => [a.address, a.outcome.kind])).toEqual([
      ['127.0.0.1', 'up'],
      ['::1', 'down'],
    ]);
  });

  it('reaches an IPv6-only server on ::1 through localhost', async (context) => {
    if (ipv6Available !== undefined) {
      console.log(`skipped: ${ipv6Available}`);
      context.skip();
    }
    const port = await listen(tcpServer(), '::1');
    const report = await probe({ label: 'x', addresses: [{ host: 'localhost', port }] }, { lookup: bothLoopbacks, timeoutMs: 2000 });
    expect(report.state.kind).toBe('up');
    expect(report.addresses.map((a) => [a.address, a.outcome.kind])).toEqual([
      ['127.0.0.1', 'down'],
      ['::1', 'up'],
    ]);
    // An IPv6 literal resolves to itself through the real resolver.
    expect((await probe({ label: 'x', addresses: [{ host: '::1', port }] })).state.kind).toBe('up');
  });

  it('reports a closed port as down with ECONNREFUSED and the address', async () => {
    const port = await closedPort();
    const report = await probe({ label: 'x', addresses: [{ host: '127.0.0.1', port }] });
    expect(report.state).toEqual({ kind: 'down', error: `ECONNREFUSED 127.0.0.1:${port}` });
  });

  it('reports a host that does not resolve as ENOTFOUND, naming the host', async () => {
    const notFound: Lookup = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND db.invalid'), { code: 'ENOTFOUND' });
    };
    const report = await probe({ label: 'x', addresses: [{ host: 'db.invalid', port: 5432 }] }, { lookup: notFound });
    expect(report.state).toEqual({ kind: 'down', error: 'ENOTFOUND db.invalid' });
  });

  it('names no host, address or port in the errors of a redacted target (an encrypted URL)', async () => {
    const port = await closedPort();
    const refused = await probe({ label: 'x', addresses: [{ host: '127.0.0.1', port }], redact: MASK });
    expect(refused.state).toEqual({ kind: 'down', error: `ECONNREFUSED ${MASK}` });
    const notFound: Lookup = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND db.invalid'), { code: 'ENOTFOUND' });
    };
    const unknown = await probe({ label: 'x', addresses: [{ host: 'db.invalid', port: 5432 }], redact: MASK }, { lookup: notFound });
    expect(unknown.state).toEqual({ kind: 'down', error: `ENOTFOUND ${MASK}` });
    // An error without a code: its message may name the host.
    const chatty: Lookup = async () => {
      throw new Error('no answer for db.invalid');
    };
    const vague = await probe({ label: 'x', addresses: [{ host: 'db.invalid', port: 5432 }], redact: MASK }, { lookup: chatty });
    expect(vague.state).toEqual({ kind: 'down', error: `failed ${MASK}` });
    const never: Lookup = () => new Promise(() => undefined);
    const slow = await probe({ label: 'x', addresses: [{ host: 'db.invalid', port: 5432 }], redact: MASK }, { lookup: never, timeoutMs: 100 });
    expect(slow.state).toEqual({ kind: 'down', error: `lookup timeout after 0.1s ${MASK}` });
  });

  it('bounds every step: a lookup that never answers is a timeout', async () => {
    const never: Lookup = () => new Promise(() => undefined);
    const report = await probe({ label: 'x', addresses: [{ host: 'slow.example', port: 1 }] }, { lookup: never, timeoutMs: 200 });
    expect(report.state).toEqual({ kind: 'down', error: 'lookup timeout after 0.2s slow.example' });
  });

  it('GETs http URLs: a 500 is down with its status, a 204 is up', async () => {
    const status = { code: 500 };
    const port = await listen(
      createHttpServer((_req, res) => {
        res.statusCode = status.code;
        res.end();
      }),
      '127.0.0.1',
    );
    const target = { label: 'x', addresses: [{ host: '127.0.0.1', port }], httpUrl: `http://u:pw@127.0.0.1:${port}/health` };
    const failing = await probe(target);
    expect(failing.state).toEqual({ kind: 'down', error: 'HTTP 500' });
    expect(failing.http?.status).toBe(500);
    status.code = 204;
    const fine = await probe(target);
    expect(fine.state.kind).toBe('up');
    expect(fine.http?.status).toBe(204);
  });

  it('bounds the GET too: a server that never answers is a timeout, within the one probe budget', async () => {
    const port = await listen(
      createHttpServer(() => undefined),
      '127.0.0.1',
    );
    const report = await probe({ label: 'x', addresses: [{ host: '127.0.0.1', port }], httpUrl: `http://127.0.0.1:${port}/` }, { timeoutMs: 200 });
    expect(report.state).toEqual({ kind: 'down', error: 'timeout after 0.2s' });
    (servers.at(-1) as HttpServer).closeAllConnections();
  });

  it('does not probe a resource with no port, and says why', async () => {
    const report = await probe({ label: 'x', addresses: [{ host: 'cluster.example', port: undefined }] });
    expect(report.state.kind).toBe('skipped');
  });

  it('keeps target order with bounded concurrency', async () => {
    const up = await listen(tcpServer(), '127.0.0.1');
    const down = await closedPort();
    const targets = [up, down, up, down, up].map((port, i) => ({ label: String(i), addresses: [{ host: '127.0.0.1', port }] }));
    const reports = await probeAll(targets, { concurrency: 2 });
    expect(reports.map((r) => [r.label, r.state.kind])).toEqual([
      ['0', 'up'],
      ['1', 'down'],
      ['2', 'up'],
      ['3', 'down'],
      ['4', 'up'],
    ]);
  });
});

describe('waitFor', { timeout: 10_000 }, () => {
  it('times out with the masked URL and the last error, never the password', async () => {
    const port = await closedPort();
    const env = { DATABASE_URL: `postgres://app:hunter2@127.0.0.1:${port}/app` };
    const error = await waitFor(env, ['DATABASE_URL'], { timeoutMs: 300, initialDelayMs: 20 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TfError);
    const tfError = error as TfError;
    expect(tfError.exitCode).toBe(1);
    expect(tfError.describe()).toBe(
      `DATABASE_URL (postgres://app:${MASK}@127.0.0.1:${port}/app) did not accept connections within 0.3s (last error: ECONNREFUSED 127.0.0.1:${port}); start it or fix its URL, or allow longer with --wait-timeout`,
    );
    expect(tfError.describe()).not.toContain('hunter2');
  });

  it('reports the refusal, not the last attempt cut short by the deadline', async () => {
    const port = await closedPort();
    // The first lookups answer at once (the connect is refused); a later one never answers, so the
    // last attempt ends only at the deadline, as a slow name server or network would make it.
    let lookups = 0;
    const lookup: Lookup = () => (++lookups <= 2 ? Promise.resolve([{ address: '127.0.0.1', family: 4 }]) : new Promise(() => undefined));
    const error = await waitFor({ REDIS_URL: `redis://cache.test:${port}` }, ['REDIS_URL'], { timeoutMs: 300, initialDelayMs: 10, lookup }).catch(
      (e: unknown) => e,
    );
    expect(lookups).toBeGreaterThan(2);
    expect((error as TfError).describe()).toMatch(/\(last error: ECONNREFUSED [^)]*\)/);
  });

  it('returns once the resource starts accepting connections', async () => {
    const port = await closedPort();
    const waiting: string[] = [];
    await waitFor({ REDIS_URL: `redis://:pw@127.0.0.1:${port}` }, ['REDIS_URL'], {
      timeoutMs: 5000,
      initialDelayMs: 20,
      // The server comes up only after the first attempt failed: the wait must retry.
      onWaiting: (label, error) => {
        waiting.push(`${label}: ${error}`);
        void listen(tcpServer(), '127.0.0.1', port);
      },
    });
    expect(waiting).toEqual([`REDIS_URL (redis://:${MASK}@127.0.0.1:${port}): ECONNREFUSED 127.0.0.1:${port}`]);
  });

  it('names neither the host nor the port of an encrypted URL while waiting or when it gives up', async () => {
    const port = await closedPort();
    const env = { INTERNAL_URL: `http://hidden-host.internal:${port}/secretpath` };
    const hiddenHost: Lookup = async () => [{ address: '127.0.0.1', family: 4 }];
    const waiting: string[] = [];
    const error = await waitFor(env, ['INTERNAL_URL'], {
      timeoutMs: 300,
      initialDelayMs: 20,
      lookup: hiddenHost,
      secret: (name) => name === 'INTERNAL_URL',
      onWaiting: (label, why) => waiting.push(`${label}: ${why}`),
    }).catch((e: unknown) => e as TfError);
    expect(waiting).toEqual([`INTERNAL_URL (${MASK}): ECONNREFUSED ${MASK}`]);
    expect((error as TfError).describe()).toBe(
      `INTERNAL_URL (${MASK}) did not accept connections within 0.3s (last error: ECONNREFUSED ${MASK}); start it or fix its URL, or allow longer with --wait-timeout`,
    );
  });

  it('accepts short names and refuses unknown ones before waiting', async () => {
    const port = await listen(tcpServer(), '127.0.0.1');
    await waitFor({ DB_URL: `postgres://127.0.0.1:${port}/x` }, ['db'], { timeoutMs: 2000 });
    await expect(waitFor({ DB_URL: 'postgres://h/x' }, ['CACHE_URL'], { timeoutMs: 100 })).rejects.toThrow(
      '--wait CACHE_URL: no variable CACHE_URL in the environment',
    );
    await expect(waitFor({ PORT: '5000' }, ['PORT'], { timeoutMs: 100 })).rejects.toThrow(
      '--wait PORT: the value of PORT is not a URL tf can read: not scheme://host',
    );
    await expect(waitFor({ WEIRD_URL: 'http://user:pa ss@host:99999/x' }, ['WEIRD_URL'], { timeoutMs: 100 })).rejects.toThrow(
      '--wait WEIRD_URL: the value of WEIRD_URL is not a URL tf can read: port over 65535',
    );
  });
});

describe('boot report and tf services --probe', { timeout: 10_000 }, () => {
  it('has one masked line per resource, a warning for each one down', async () => {
    const up = await listen(tcpServer(), '127.0.0.1');
    const down = await closedPort();
    const lines = await bootReport({ DATABASE_URL: `postgres://u:pw@127.0.0.1:${up}/app`, REDIS_URL: `redis://:pw@127.0.0.1:${down}` });
    expect(lines.map((l) => l.level)).toEqual(['info', 'warn']);
    expect(lines[0]?.text).toMatch(new RegExp(`^service DATABASE_URL \\(postgres://u:\\*{5}@127\\.0\\.0\\.1:${up}/app\\) up \\d+ms$`));
    expect(lines[1]?.text).toBe(`service REDIS_URL (redis://:${MASK}@127.0.0.1:${down}) is down: ECONNREFUSED 127.0.0.1:${down}; starting anyway`);
    expect(await bootReport({ PORT: '5000' })).toEqual([]);
  });

  it("names a URL at one of this start's own ports on this machine as the app itself, without probing it", async () => {
    const own = await closedPort();
    const other = await closedPort();
    const lines = await bootReport(
      {
        APP_URL: `http://localhost:${own}`,
        API_URL: `http://127.0.0.1:${own}/api`,
        OTHER_URL: `http://127.0.0.1:${other}/`,
        REDIS_URL: `redis://127.0.0.1:${own}/1`,
      },
      { ownPorts: new Map([[own, 'web.1']]) },
    );
    expect(lines.map((l) => [l.level, l.text])).toEqual([
      ['info', `service APP_URL (http://localhost:${own}) is this app's web.1`],
      ['info', `service API_URL (http://127.0.0.1:${own}/api) is this app's web.1`],
      ['warn', `service OTHER_URL (http://127.0.0.1:${other}/) is down: ECONNREFUSED 127.0.0.1:${other}; starting anyway`],
      ['info', `service REDIS_URL (redis://127.0.0.1:${own}/1) is this app's web.1`],
    ]);
  });

  it('says where an encrypted URL points in no line: not down, not as this app', async () => {
    const own = await closedPort();
    const notFound: Lookup = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND hidden-host.internal'), { code: 'ENOTFOUND' });
    };
    const env = { INTERNAL_URL: 'http://hidden-host.internal:8080/secretpath', SELF_URL: `http://localhost:${own}/` };
    const secret = (name: string): boolean => name === 'INTERNAL_URL' || name === 'SELF_URL';
    const lines = await bootReport(env, { secret, lookup: notFound, ownPorts: new Map([[own, 'web.1']]) });
    expect(lines.map((l) => [l.level, l.text])).toEqual([
      ['warn', `service INTERNAL_URL (${MASK}) is down: ENOTFOUND ${MASK}; starting anyway`],
      ['warn', `service SELF_URL (${MASK}) is down: ENOTFOUND ${MASK}; starting anyway`],
    ]);
  });

  it('has a line, never a probe, for a URL it cannot read', async () => {
    const lines = await bootReport({ WEIRD_URL: 'http://user:pa ss@host:99999/x', EMPTY_URL: '' });
    expect(lines).toEqual([{ level: 'info', text: `service WEIRD_URL (http://${MASK}) is not a URL tf can read: port over 65535; not probed` }]);
  });

  it('ends at once when start no longer wants it', async () => {
    const stop = new AbortController();
    const never: Lookup = () => new Promise(() => undefined);
    const report = bootReport({ DATABASE_URL: 'postgres://db.example/app' }, { lookup: never, timeoutMs: 60_000, signal: stop.signal });
    stop.abort();
    expect((await report).map((l) => l.text)).toEqual([
      'service DATABASE_URL (postgres://db.example/app) is down: lookup cancelled db.example; starting anyway',
    ]);
  });

  it('lists, probes and exits 1 when a resource is down; JSON carries the same facts', async () => {
    const http = await listen(
      createHttpServer((_req, res) => {
        res.statusCode = 200;
        res.end('ok');
      }),
      '127.0.0.1',
    );
    const down = await closedPort();
    const env = {
      API_URL: `http://127.0.0.1:${http}/v1`,
      DATABASE_URL: `postgres://u:pw@127.0.0.1:${down}/app`,
      PG_URL: `postgresql://u:pw@127.0.0.1:${down}/app`,
    };
    const out = capture();
    const context = { cwd: '/', env: {}, stdout: out.stream, stderr: out.stream };
    expect(await listServices(env, { probe: true, json: false }, context)).toBe(1);
    const text = out.text();
    expect(text).toMatch(new RegExp(`^http 127\\.0\\.0\\.1:${http} /v1  up \\d+ms \\(HTTP 200\\)\n  API_URL=http://127\\.0\\.0\\.1:${http}/v1\n`));
    expect(text).toContain(
      `postgres 127.0.0.1:${down} app  DOWN: ECONNREFUSED 127.0.0.1:${down}\n  DATABASE_URL=postgres://u:${MASK}@127.0.0.1:${down}/app\n  PG_URL=postgresql://u:${MASK}@127.0.0.1:${down}/app\n1 of 2 down\n`,
    );
    expect(text).not.toContain('pw@');

    const json = capture();
    expect(await listServices(env, { probe: true, json: true }, { ...context, stdout: json.stream })).toBe(1);
    const parsed = JSON.parse(json.text()) as { resources: { vars: { name: string }[]; probe: { kind: string; error?: string; http?: { status: number } } }[] };
    expect(parsed.resources.map((r) => [r.vars.map((v) => v.name), r.probe.kind])).toEqual([
      [['API_URL'], 'up'],
      [['DATABASE_URL', 'PG_URL'], 'down'],
    ]);
    expect(parsed.resources[0]?.probe.http?.status).toBe(200);
    expect(json.text()).not.toContain('pw@');
  });

  it('lists a URL it cannot read, masked, with why, in text and JSON; it is no error and is not probed', async () => {
    const down = await closedPort();
    const env = { DATABASE_URL: `postgres://127.0.0.1:${down}/app`, WEIRD_URL: 'http://user:pa ss@host:99999/x' };
    const out = capture();
    const context = { cwd: '/', env: {}, stdout: out.stream, stderr: out.stream };
    expect(await listServices({ WEIRD_URL: env.WEIRD_URL }, { probe: false, json: false }, context)).toBe(0);
    expect(out.text()).toBe(`not a URL tf can read: port over 65535\n  WEIRD_URL=http://${MASK}\n`);
    const probed = capture();
    expect(await listServices(env, { probe: true, json: false }, { ...context, stdout: probed.stream })).toBe(1);
    expect(probed.text()).toBe(
      `postgres 127.0.0.1:${down} app  DOWN: ECONNREFUSED 127.0.0.1:${down}\n  DATABASE_URL=postgres://127.0.0.1:${down}/app\nnot a URL tf can read: port over 65535  not probed\n  WEIRD_URL=http://${MASK}\n1 of 2 down\n`,
    );
    const json = capture();
    expect(await listServices({ WEIRD_URL: env.WEIRD_URL }, { probe: true, json: true }, { ...context, stdout: json.stream })).toBe(0);
    expect(JSON.parse(json.text())).toEqual({ resources: [], unreadable: [{ name: 'WEIRD_URL', value: `http://${MASK}`, reason: 'port over 65535' }] });
    expect(out.text() + probed.text() + json.text()).not.toMatch(/pa ss|99999/);
  });

  it('probes an encrypted URL, printing where it points nowhere: not in its description, its state or JSON', async () => {
    const down = await closedPort();
    const up = await listen(
      createHttpServer((_req, res) => {
        res.statusCode = 200;
        res.end('ok');
      }),
      '127.0.0.1',
    );
    // The planted host resolves to this machine, so the connects are real; the GET resolves its host itself.
    const hiddenHost: Lookup = async () => [{ address: '127.0.0.1', family: 4 }];
    const env = { DOWN_URL: `postgres://hidden-host.internal:${down}/secretdb`, UP_URL: `http://127.0.0.1:${up}/secretpath` };
    const secret = (): boolean => true;
    const out = capture();
    const context = { cwd: '/', env: {}, stdout: out.stream, stderr: out.stream };
    expect(await listServices(env, { probe: true, json: false, secret }, context, { lookup: hiddenHost })).toBe(1);
    expect(out.text()).toMatch(
      /^encrypted URL {2}DOWN: ECONNREFUSED \*{5}\n {2}DOWN_URL=\*{5}\nencrypted URL {2}up \d+ms \(HTTP 200\)\n {2}UP_URL=\*{5}\n1 of 2 down\n$/,
    );
    const json = capture();
    expect(await listServices(env, { probe: true, json: true, secret }, { ...context, stdout: json.stream }, { lookup: hiddenHost })).toBe(1);
    const parsed = JSON.parse(json.text()) as { resources: { encrypted: boolean; probe: { kind: string; addresses: unknown } }[] };
    expect(parsed.resources.map((r) => [r.encrypted, r.probe.kind, r.probe.addresses])).toEqual([
      [true, 'down', null],
      [true, 'up', null],
    ]);
    for (const text of [out.text(), json.text()])
      expect(text).not.toMatch(new RegExp(`hidden-host|127\\.0\\.0\\.1|${down}|${up}|secret(db|path)|postgres|http:`));
  });
});

const redisServer = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).stdout.trim();

describe('a real redis-server', { timeout: 15_000 }, () => {
  let child: ChildProcess | undefined;
  afterEach(async () => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    if (child?.pid !== undefined) expect(() => process.kill(child?.pid as number, 0)).toThrow();
  });

  it('is waited for, then probed up', async (context) => {
    if (redisServer === '') {
      console.log('skipped: redis-server is not installed (command -v redis-server found nothing)');
      context.skip();
    }
    const port = await closedPort();
    child = spawn(redisServer, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const env = { REDIS_URL: `redis://:pw@localhost:${port}/0` };
    await waitFor(env, ['REDIS_URL'], { timeoutMs: 10_000, initialDelayMs: 20 });
    const [line] = await bootReport(env);
    expect(line?.level).toBe('info');
    expect(line?.text).toMatch(/^service REDIS_URL \(redis:\/\/:\*{5}@localhost:\d+\/0\) up \d+ms$/);
  });
});
