import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import type { Instance, Warning } from '../domain.js';

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
  const busy = await Promise.all(instances.map(async (instance) => ((await portInUse(instance.port)) ? instance : undefined)));
  return busy
    .filter((i): i is Instance => i !== undefined)
    .map((instance) => {
      const holder = portHolder(instance.port);
      return { message: `port ${instance.port} for ${instance.name} is already in use${holder === undefined ? '' : ` by ${holder}`}` };
    });
}
