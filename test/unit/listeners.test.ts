import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { listenersOfRun, parseProcNetTcp } from '../../src/host/listeners.js';

// Lines as Linux prints them on x86 (little-endian words), one of them not listening.
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 11111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1389 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 22222 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1388 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 33333 1 0000000000000000 20 4 30 10 -1
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1388 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 44444 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:1388 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 55555 1 0000000000000000 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:1388 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 66666 1 0000000000000000 100 0 0 10 0
`;

describe('reading /proc/net/tcp', () => {
  it('lists the listening sockets with address, port and inode', () => {
    expect(parseProcNetTcp(TCP, true)).toEqual([
      { address: '0.0.0.0', port: 5000, inode: '11111' },
      { address: '127.0.0.1', port: 5001, inode: '22222' },
    ]);
  });

  it('reads IPv6 addresses word by word, and an IPv4-mapped one as IPv4', () => {
    expect(parseProcNetTcp(TCP6, true)).toEqual([
      { address: '0:0:0:0:0:0:0:0', port: 5000, inode: '44444' },
      { address: '0:0:0:0:0:0:0:1', port: 5000, inode: '55555' },
      { address: '127.0.0.1', port: 5000, inode: '66666' },
    ]);
  });

  it('reads the words in the byte order of a big-endian machine there', () => {
    expect(parseProcNetTcp('   0: 7F000001:1388 00000000:0000 0A 0:0 0:0 0 1000 0 77777 1\n', false)).toEqual([
      { address: '127.0.0.1', port: 5000, inode: '77777' },
    ]);
  });
});

const HAS_PROC = existsSync('/proc/net/tcp');
if (!HAS_PROC) console.log('listeners: skipping the live tests: no /proc/net/tcp here');

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

const listenOn = (host: string): Promise<{ server: Server; port: number }> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host, port: 0 }, () => {
      cleanups.push(() => server.close());
      resolve({ server, port: (server.address() as { port: number }).port });
    });
  });

/** A process group whose leader's child listens on a free port of 127.0.0.1: the leader's pid and the port. */
async function listeningGrandchild(): Promise<{ leader: number; port: number }> {
  const server = `require('net').createServer().listen(0, '127.0.0.1', function () { console.log('LISTENING ' + this.address().port); })`;
  const leader = `require('child_process').spawn(process.execPath, ['-e', ${JSON.stringify(server)}], { stdio: 'inherit' }); setInterval(() => {}, 1 << 30)`;
  const child = spawn(process.execPath, ['-e', leader], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
  const pid = child.pid as number;
  cleanups.push(() => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      out += d;
      const m = /LISTENING (\d+)/.exec(out);
      if (m !== null) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`the leader exited (${code}) before its child listened: ${out}`)));
  });
  return { leader: pid, port };
}

describe.runIf(HAS_PROC)('the listeners of a run', { timeout: 10_000 }, () => {
  it("finds a process's own listener, at the address to connect to", async () => {
    const { port } = await listenOn('127.0.0.1');
    expect(listenersOfRun(port, process.pid)).toEqual(['127.0.0.1']);
    const wildcard = await listenOn('0.0.0.0');
    expect(listenersOfRun(wildcard.port, process.pid)).toEqual(['127.0.0.1']);
    // An IPv6 wildcard may take IPv4 too, and a host may lack ::1: both are asked.
    const both = await listenOn('::').catch(() => undefined);
    if (both !== undefined) expect(listenersOfRun(both.port, process.pid)).toEqual(['::1', '127.0.0.1']);
  });

  it("finds a listener of a process under the run, and not another process's", async () => {
    const { leader, port } = await listeningGrandchild();
    expect(listenersOfRun(port, leader)).toEqual(['127.0.0.1']);
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    cleanups.push(() => other.kill('SIGKILL'));
    expect(listenersOfRun(port, other.pid as number)).toEqual([]);
  });

  it('finds nothing on a port nobody listens on', async () => {
    const { server, port } = await listenOn('127.0.0.1');
    await new Promise((resolve) => server.close(resolve));
    expect(listenersOfRun(port, process.pid)).toEqual([]);
  });
});
