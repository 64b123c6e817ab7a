import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import type { Instance, Warning } from '../domain.js';

/**
 * What a probe learned of a port: something holds it, nothing does, or tf could not tell
 * (a privileged port refuses tf's bind whether or not it is taken).
 */
export type PortState = { readonly kind: 'free' } | { readonly kind: 'in-use' } | { readonly kind: 'unknown'; readonly code: string };

/** Binds the port on every address and lets it go; rejects with the bind's errno error. */
export type Bind = (port: number) => Promise<void>;

const bindAndRelease: Bind = (port) =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    // exclusive: a cluster worker would otherwise share the primary's handle and always succeed.
    server.listen({ port, exclusive: true }, () => server.close(() => resolve()));
  });

/** `bind` is for tests. */
export async function probePort(port: number, bind: Bind = bindAndRelease): Promise<PortState> {
  try {
    await bind(port);
    return { kind: 'free' };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code ?? 'unknown error';
    return code === 'EADDRINUSE' ? { kind: 'in-use' } : { kind: 'unknown', code };
  }
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

function warningFor(instance: Instance, state: PortState): Warning | undefined {
  switch (state.kind) {
    case 'free':
      return undefined;
    case 'in-use': {
      const holder = portHolder(instance.port);
      return { message: `port ${instance.port} for ${instance.name} is already in use${holder === undefined ? '' : ` by ${holder}`}` };
    }
    case 'unknown':
      return {
        message:
          state.code === 'EACCES'
            ? `port ${instance.port} for ${instance.name} not checked: it is a privileged port that tf may not bind (EACCES); the process needs the right to bind it, or use a port from 1024 up`
            : `port ${instance.port} for ${instance.name} not checked: binding it failed with ${state.code}`,
      };
  }
}

/** Ports of the plan that something else already listens on, or that tf could not check, as warnings. */
export async function busyPortWarnings(instances: readonly Instance[], bind: Bind = bindAndRelease): Promise<Warning[]> {
  const warnings: Warning[] = [];
  // One at a time: a large formation must not hold a socket per instance at once.
  for (const instance of instances) {
    const warning = warningFor(instance, await probePort(instance.port, bind));
    if (warning !== undefined) warnings.push(warning);
  }
  return warnings;
}
