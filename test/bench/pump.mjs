// A reference, not a peer: the least a Node supervisor can do, copying each command's stdout
// to its own stdout chunk by chunk, with no line splitting, prefixes or process groups. Its
// time is the floor for any Node tool in the throughput scenarios.
import { spawn } from 'node:child_process';
import { writeSync } from 'node:fs';

const children = process.argv.slice(2).map((command) => spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'pipe', 'ignore'] }));
for (const child of children) child.stdout.on('data', (chunk) => writeSync(1, chunk));
process.on('SIGTERM', () => {
  for (const child of children) child.kill('SIGTERM');
  process.exit(0);
});
