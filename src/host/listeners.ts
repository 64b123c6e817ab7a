import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { endianness } from 'node:os';
import { descendants } from './process-table.js';

/** A TCP socket in the LISTEN state, as /proc/net/tcp or tcp6 lists it. */
export interface TcpListener {
  /** The local address it is bound to, in the textual form `net.connect` takes. */
  readonly address: string;
  readonly port: number;
  /** The socket's inode: what `/proc/PID/fd/N` links to as `socket:[inode]`. */
  readonly inode: string;
}

const LISTEN = '0A';

/**
 * The listeners in one /proc/net/tcp or tcp6 table. The kernel prints each 32-bit word of an
 * address in the machine's byte order, the port in plain hex.
 */
export function parseProcNetTcp(text: string, littleEndian: boolean = endianness() === 'LE'): TcpListener[] {
  const listeners: TcpListener[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    const [local, state, inode] = [fields[1], fields[3], fields[9]];
    if (state !== LISTEN || local === undefined || inode === undefined) continue;
    const [hex, portHex] = local.split(':');
    if (hex === undefined || portHex === undefined || (hex.length !== 8 && hex.length !== 32)) continue;
    const bytes: number[] = [];
    for (let at = 0; at < hex.length; at += 8) {
      const word = Number.parseInt(hex.slice(at, at + 8), 16);
      const order = littleEndian ? [0, 8, 16, 24] : [24, 16, 8, 0];
      for (const shift of order) bytes.push((word >>> shift) & 0xff);
    }
    listeners.push({ address: addressText(bytes), port: Number.parseInt(portHex, 16), inode });
  }
  return listeners;
}

function addressText(bytes: readonly number[]): string {
  if (bytes.length === 4) return bytes.join('.');
  // An IPv4-mapped address (::ffff:a.b.c.d) is that IPv4 address.
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return bytes.slice(12).join('.');
  const groups: string[] = [];
  for (let at = 0; at < 16; at += 2) groups.push((((bytes[at] ?? 0) << 8) | (bytes[at + 1] ?? 0)).toString(16));
  return groups.join(':');
}

/**
 * Where to connect to reach a listener on this machine: a wildcard address answers on loopback.
 * An IPv6 wildcard is also IPv4's unless the socket is v6-only, which /proc does not tell, and
 * some hosts have no ::1: both are tried.
 */
const reachableAt = (address: string): string[] => (address === '0.0.0.0' ? ['127.0.0.1'] : address === '0:0:0:0:0:0:0:0' ? ['::1', '127.0.0.1'] : [address]);

/** The socket inodes the processes hold; a process tf may not look into (another user's) holds none it can see. */
function socketInodes(pids: readonly number[]): Set<string> {
  const inodes = new Set<string>();
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        if (target.startsWith('socket:[')) inodes.add(target.slice(8, -1));
      } catch {
        // Closed while we looked.
      }
    }
  }
  return inodes;
}

function readTable(file: string): string | undefined {
  try {
    return readFileSync(file, 'latin1');
  } catch {
    return undefined;
  }
}

/**
 * The addresses at which the process `pid`, or a process under it, listens on TCP `port`
 * (empty while it does not); undefined where tf cannot tell (no /proc).
 */
export function listenersOfRun(port: number, pid: number): string[] | undefined {
  if (!existsSync('/proc/net/tcp')) return undefined;
  // The run's own sockets first (a few descriptors): the machine's tables, which can be large,
  // are read only once the run holds a socket at all.
  const held = socketInodes([pid, ...descendants([pid]).map((d) => d.pid)]);
  if (held.size === 0) return [];
  const tables = [readTable('/proc/net/tcp'), readTable('/proc/net/tcp6')];
  const onPort = tables.flatMap((table) => (table === undefined ? [] : parseProcNetTcp(table))).filter((l) => l.port === port && held.has(l.inode));
  return [...new Set(onPort.flatMap((l) => reachableAt(l.address)))];
}
