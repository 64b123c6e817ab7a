// A reference, not a peer: the least a Node supervisor can do through FIFOs (which a child can
// open as /dev/stdout, unlike Node's own socket pairs), copying each command's output to its own
// stdout read by read into one shared buffer, with no line splitting, prefixes or process groups.
// Its time is the floor for tf's design in the throughput scenarios.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';

const commands = process.argv.slice(2);
const home = mkdtempSync(path.join(os.tmpdir(), 'fifo-pump-'));
const names = commands.map((_, i) => path.join(home, `p${i}`));
spawnSync('mkfifo', names);
const buffer = Buffer.allocUnsafe(64 * 1024);
const children = commands.map((command, i) => {
  const read = openSync(names[i], constants.O_RDONLY | constants.O_NONBLOCK);
  const write = openSync(names[i], constants.O_WRONLY);
  const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', write, 'ignore'] });
  closeSync(write);
  new Socket({ fd: read, readable: true, writable: false, onread: { buffer, callback: (n) => void writeSync(1, buffer, 0, n) } });
  return child;
});
rmSync(home, { recursive: true, force: true });
process.on('SIGTERM', () => {
  for (const child of children) child.kill('SIGTERM');
  process.exit(0);
});
