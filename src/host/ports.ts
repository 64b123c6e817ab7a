import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import type { Instance, Warning } from '../domain.js';

/**
 * True when something on this machine already holds the port. The probe binds and closes at
 * once: a bind's outcome is known when listen() returns (an error only arrives later, and
 * leaves the server not listening) and closing frees the port before close() returns, so
 * nothing waits for the event loop and the instance that gets the port starts sooner.
 */
export function portInUse(port: number): boolean {
  const server = createServer();
  server.on('error', () => {
    // Reported through `listening` below.
  });
  server.listen({ port, exclusive: true });
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
