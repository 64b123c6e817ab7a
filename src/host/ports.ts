import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Instance, Warning } from '../domain.js';

/**
 * TCP ports in LISTEN state, read from /proc (Linux): one synchronous read instead of a
 * bind attempt per port. Undefined where /proc/net is not available.
 */
function listeningPorts(): Set<number> | undefined {
  const ports = new Set<number>();
  let found = false;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'latin1');
    } catch {
      continue;
    }
    found = true;
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is HEXIP:HEXPORT; state 0A is LISTEN.
      if (fields[3] === '0A') ports.add(parseInt((fields[1] ?? '').split(':')[1] ?? '', 16));
    }
  }
  return found ? ports : undefined;
}

/** Resolves true when something on this machine already listens on the port. */
export function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'EADDRINUSE'));
    server.listen({ port, exclusive: true }, () => server.close(() => resolve(false)));
  });
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
export async function busyPortWarnings(instances: readonly Instance[]): Promise<Warning[]> {
  const listening = listeningPorts();
  const inUse = (port: number): boolean | Promise<boolean> => (listening === undefined ? portInUse(port) : listening.has(port));
  const busy = await Promise.all(instances.map(async (instance) => ((await inUse(instance.port)) ? instance : undefined)));
  return busy
    .filter((i): i is Instance => i !== undefined)
    .map((instance) => {
      const holder = portHolder(instance.port);
      return { message: `port ${instance.port} for ${instance.name} is already in use${holder === undefined ? '' : ` by ${holder}`}` };
    });
}
