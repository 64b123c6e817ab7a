import { createServer, type Server } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { portInUse } from '../../src/host/ports.js';

const listening = (host?: string): Promise<Server> =>
  new Promise((resolve) => {
    const server = createServer();
    server.listen({ port: 0, host }, () => resolve(server));
  });
const portOf = (server: Server): number => (server.address() as { port: number }).port;

describe('portInUse (the probe runs without waiting for the event loop)', () => {
  it.each([undefined, '127.0.0.1'])('sees a port held by a server on %s, and frees its own probe at once', async (host) => {
    const server = await listening(host);
    try {
      expect(portInUse(portOf(server))).toBe(true);
    } finally {
      server.close();
    }
  });

  it('reports a free port free, and leaves it free for the instance', async () => {
    const server = await listening();
    const port = portOf(server);
    await new Promise((resolve) => server.close(resolve));
    expect(portInUse(port)).toBe(false);
    expect(portInUse(port)).toBe(false);
    const again = createServer();
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen({ port, exclusive: true }, resolve);
    });
    again.close();
  });
});

describe('portInUse', () => {
  it('binds through _listen2, skipping the cluster module that listen() loads first', () => {
    const server = createServer();
    const listen = vi.spyOn(server, 'listen');
    const step = vi.spyOn(server as unknown as { _listen2: () => void }, '_listen2');
    portInUse(0, server);
    expect(step).toHaveBeenCalledOnce();
    expect(listen).not.toHaveBeenCalled();
  });
});
