import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import type { Instance, Warning } from '../domain.js';

/** Node's bind-and-listen step, named `_listen2` and kept as an alias for code that wraps it. */
type ListenStep = (this: Server, address: null, port: number, addressType: 4) => void;

/**
 * Binds and listens at once. `listen()` first loads Node's cluster module, only to learn that
 * this process is no cluster worker: ~1.5 ms of every start-up, against ~0.1 ms for the bind.
 * Its next step, `_listen2`, takes the same arguments listen() passes it for a port without a
 * host (the unspecified address, IPv6 first); a Node without that alias gets listen() itself.
 */
function listenNow(server: Server, port: number): void {
  const step = (server as unknown as { _listen2?: ListenStep })._listen2;
  if (typeof step === 'function') step.call(server, null, port, 4);
  else server.listen({ port, exclusive: true });
}

/**
 * True when something on this machine already holds the port. The probe binds and closes at
 * once: a bind's outcome is known when listen returns (an error only arrives later, and
 * leaves the server not listening) and closing frees the port before close() returns, so
 * nothing waits for the event loop and the instance that gets the port starts sooner.
 * `server` is for tests.
 */
export function portInUse(port: number, server: Server = createServer()): boolean {
  server.on('error', () => {
    // Reported through `listening` below.
  });
  listenNow(server, port);
  const free = server.listening;
  server.close();
  return !free;
}

/** Who holds a port, where the OS lets us see it (lsof, then ss); undefined otherwise. */
export function portHolder(port: number): string | undefined {
  const lsof = spawnSync('lsof', ['-nP', `-iTCP:${port}`, '-sTCP:LISTEN', '-Fpc'], { encoding: 'utf8', timeout: 2000 });
  if (lsof.status === 0 && lsof.stdout) {
    const pid = /^p(\d+)/m.exec(lsof.stdout)?.[1];
    const name = /^c(.+)$/m.exec(lsof.stdout)?.[1];
    if (pid !== undefined) return `${name ?? 'process'} (pid ${pid})`;
  }
  const ss = spawnSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8', timeout: 2000 });
  const match = ss.status === 0 ? /\(\("([^"]+)",pid=(\d+)/.exec(ss.stdout) : null;
  return match === null ? undefined : `${match[1]} (pid ${match[2]})`;
}

/** Ports of the plan that something else already listens on, as warnings. */
export function busyPortWarnings(instances: readonly Instance[]): Warning[] {
  return instances
    .filter((instance) => portInUse(instance.port))
    .map((instance) => {
      const holder = portHolder(instance.port);
      return { message: `port ${instance.port} for ${instance.name} is already in use${holder === undefined ? '' : ` by ${holder}`}` };
    });
}
