// A reference, not a peer: the least a Node supervisor can do, copying each command's stdout
// to its own stdout chunk by chunk, with no line splitting, prefixes or process groups. Its
// time is the floor for any Node tool in the throughput scenarios.
import { spawn } from 'node:child_process';
import { writeSync } from 'node:fs';

for (const command of process.argv.slice(2)) {
  const child = spawn('/bin/sh', ['-c', command], { stdio: ['ignore', 'pipe', 'ignore'] });
  child.stdout.on('data', (chunk) => writeSync(1, chunk));
}
process.on('SIGTERM', () => process.exit(0));
