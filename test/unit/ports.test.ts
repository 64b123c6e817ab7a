import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Instance } from '../../src/domain.js';
import { checkPorts, lookupHolders, parseLsof, parseSs, probePort, type Bind, type HolderLookup } from '../../src/host/ports.js';

const listening = (host?: string): Promise<Server> =>
  new Promise((resolve) => {
    const server = createServer();
    server.listen({ port: 0, host }, () => resolve(server));
  });
const portOf = (server: Server): number => (server.address() as { port: number }).port;
const closed = (server: Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()));

const instance = (name: string, port: number): Instance => ({ name, port }) as Instance;
const failing =
  (code: string): Bind =>
  () =>
    Promise.reject(Object.assign(new Error(`listen ${code}`), { code }));

describe('probePort', () => {
  it.each([undefined, '127.0.0.1'])(
    'sees a port held by a server on %s',
    async (host) => {
      const server = await listening(host);
      try {
        await expect(probePort(portOf(server))).resolves.toEqual({ kind: 'in-use' });
      } finally {
        await closed(server);
      }
    },
    10_000,
  );

  it('reports a free port free, and leaves it free for the instance', async () => {
    const server = await listening();
    const port = portOf(server);
    await closed(server);
    await expect(probePort(port)).resolves.toEqual({ kind: 'free' });
    await expect(probePort(port)).resolves.toEqual({ kind: 'free' });
    const again = createServer();
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen({ port, exclusive: true }, resolve);
    });
    await closed(again);
  }, 10_000);

  it('tells a privileged port (EACCES) from one in use', async () => {
    await expect(probePort(80, failing('EACCES'))).resolves.toEqual({ kind: 'unknown', code: 'EACCES' });
    await expect(probePort(80, failing('EADDRINUSE'))).resolves.toEqual({ kind: 'in-use' });
  }, 10_000);
});

describe('checkPorts', () => {
  it('warns of a port in use, naming the instance', async () => {
    const server = await listening();
    try {
      const port = portOf(server);
      const { warnings, inUse } = await checkPorts([instance('web.1', port)]);
      expect(warnings).toHaveLength(1);
      expect([...inUse]).toEqual([port]);
      expect(warnings[0]?.message).toMatch(new RegExp(`^port ${port} for web\\.1 is already in use( by .+)?$`));
    } finally {
      await closed(server);
    }
  }, 10_000);

  it('never calls a privileged port busy: it says it could not check it', async () => {
    const { warnings, inUse } = await checkPorts([instance('web.1', 80), instance('api.1', 443)], failing('EACCES'));
    expect(inUse.size).toBe(0);
    expect(warnings.map((w) => w.message)).toEqual([
      'port 80 for web.1 not checked: it is a privileged port that tf may not bind (EACCES); the process needs the right to bind it, or use a port from 1024 up',
      'port 443 for api.1 not checked: it is a privileged port that tf may not bind (EACCES); the process needs the right to bind it, or use a port from 1024 up',
    ]);
    expect(warnings.some((w) => w.message.includes('in use'))).toBe(false);
  }, 10_000);

  it('gives nothing for free ports', async () => {
    await expect(checkPorts([instance('web.1', 5000)], () => Promise.resolve())).resolves.toEqual({ warnings: [], inUse: new Set() });
  }, 10_000);
});

describe('who holds a busy port', () => {
  it('reads ss -Hltnp: the first process per port; a socket of another user (no users field) is absent', () => {
    const text = [
      'LISTEN 0      511          0.0.0.0:5000       0.0.0.0:*    users:(("node",pid=123,fd=20))',
      'LISTEN 0      511             [::]:5000          [::]:*    users:(("other",pid=9,fd=3))',
      'LISTEN 0      128    127.0.0.1%lo:6000       0.0.0.0:*    users:(("redis-server",pid=77,fd=6),("redis-server",pid=78,fd=6))',
      'LISTEN 0      128          0.0.0.0:22         0.0.0.0:*',
      '',
    ].join('\n');
    expect([...parseSs(text)]).toEqual([
      [5000, 'node (pid 123)'],
      [6000, 'redis-server (pid 77)'],
    ]);
  });

  it('reads lsof -Fpcn: process lines, then an address line per socket', () => {
    const text = ['p123', 'cnode', 'f20', 'n*:5000', 'f21', 'n[::1]:5001', 'p456', 'f3', 'n127.0.0.1:6000', ''].join('\n');
    expect([...parseLsof(text)]).toEqual([
      [5000, 'node (pid 123)'],
      [5001, 'node (pid 123)'],
      [6000, 'process (pid 456)'],
    ]);
  });

  it('looks the holders up once for all busy ports, and not at all when none is busy', async () => {
    let lookups = 0;
    const holders: HolderLookup = async () => {
      lookups++;
      return new Map([[5000, 'node (pid 1)']]);
    };
    const inUse: Bind = (port) => (port === 6000 ? Promise.resolve() : failing('EADDRINUSE')(port));
    const report = await checkPorts([instance('web.1', 5000), instance('web.2', 5001), instance('api.1', 6000)], inUse, holders);
    expect(report.warnings.map((w) => w.message)).toEqual(['port 5000 for web.1 is already in use by node (pid 1)', 'port 5001 for web.2 is already in use']);
    expect([...report.inUse]).toEqual([5000, 5001]);
    expect(lookups).toBe(1);
    await checkPorts([instance('api.1', 6000)], () => Promise.resolve(), holders);
    expect(lookups).toBe(1);
  }, 10_000);

  /** Runs `lookupHolders` with PATH holding only the given fake tools. */
  async function withTools<T>(tools: Record<string, string>, body: (dir: string) => Promise<T>): Promise<T> {
    const dir = mkdtempSync(path.join(tmpdir(), 'tf-ports-'));
    for (const [name, script] of Object.entries(tools)) {
      writeFileSync(path.join(dir, name), `#!/bin/sh\n${script}\n`);
      chmodSync(path.join(dir, name), 0o755);
    }
    const saved = process.env.PATH;
    process.env.PATH = dir;
    try {
      return await body(dir);
    } finally {
      process.env.PATH = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('gives up on a tool that hangs within the one time bound, and kills it', async () => {
    await withTools({ ss: 'echo $$ > "${0%/*}/pid"; exec /bin/sleep 30' }, async (dir) => {
      await expect(lookupHolders(300)).resolves.toEqual(new Map());
      const pid = Number(readFileSync(path.join(dir, 'pid'), 'utf8'));
      expect(pid).toBeGreaterThan(0);
      expect(() => process.kill(pid, 0)).toThrow();
    });
  }, 10_000);

  it('uses lsof where there is no ss', async () => {
    await withTools({ lsof: "printf 'p42\\ncnode\\nf3\\nn*:5000\\n'" }, async () => {
      await expect(lookupHolders(5000)).resolves.toEqual(new Map([[5000, 'node (pid 42)']]));
    });
  }, 10_000);
});
