import { createServer, type Server } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { Instance } from '../../src/domain.js';
import { busyPortWarnings, probePort, type Bind } from '../../src/host/ports.js';

const listening = (host?: string): Promise<Server> =>
  new Promise((resolve) => {
    const server = createServer();
    server.listen({ port: 0, host }, () => resolve(server));
  });
const portOf = (server: Server): number => (server.address() as { port: number }).port;
const closed = (server: Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()));

const instance = (name: string, port: number): Instance => ({ name, port }) as Instance;
const failing = (code: string): Bind => () => Promise.reject(Object.assign(new Error(`listen ${code}`), { code }));

describe('probePort', () => {
  it.each([undefined, '127.0.0.1'])('sees a port held by a server on %s', async (host) => {
    const server = await listening(host);
    try {
      await expect(probePort(portOf(server))).resolves.toEqual({ kind: 'in-use' });
    } finally {
      await closed(server);
    }
  }, 10_000);

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

describe('busyPortWarnings', () => {
  it('warns of a port in use, naming the instance', async () => {
    const server = await listening();
    try {
      const port = portOf(server);
      const warnings = await busyPortWarnings([instance('web.1', port)]);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.message).toMatch(new RegExp(`^port ${port} for web\\.1 is already in use( by .+)?$`));
    } finally {
      await closed(server);
    }
  }, 10_000);

  it('never calls a privileged port busy: it says it could not check it', async () => {
    const warnings = await busyPortWarnings([instance('web.1', 80), instance('api.1', 443)], failing('EACCES'));
    expect(warnings.map((w) => w.message)).toEqual([
      'port 80 for web.1 not checked: it is a privileged port that tf may not bind (EACCES); the process needs the right to bind it, or use a port from 1024 up',
      'port 443 for api.1 not checked: it is a privileged port that tf may not bind (EACCES); the process needs the right to bind it, or use a port from 1024 up',
    ]);
    expect(warnings.some((w) => w.message.includes('in use'))).toBe(false);
  }, 10_000);

  it('gives nothing for free ports', async () => {
    await expect(busyPortWarnings([instance('web.1', 5000)], () => Promise.resolve())).resolves.toEqual([]);
  }, 10_000);
});
