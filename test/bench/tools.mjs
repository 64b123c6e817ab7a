// The supervisors under test, each launched the way its users would, on the same commands.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const node = process.execPath;

const onPath = (cmd) => spawnSync('/bin/sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
const procfile = (dir, commands) => {
  const file = path.join(dir, 'Procfile');
  writeFileSync(file, commands.map((c) => `${c.name}: ${c.cmd}\n`).join(''));
  return file;
};

/** tf from a checkout at `home` (built there); `--compare NAME=DIR` adds another build to a run. */
export const tfAt = (name, home) => ({
  name,
  available: () => true,
  argv: (dir, commands, { timeoutS }) => [node, [path.join(home, 'bin/tf.cjs'), 'start', '-f', procfile(dir, commands), '-t', String(timeoutS)]],
});

/**
 * Each tool turns (commands, options) into [file, args]. `killOthers`: stop everything when one
 * command exits (the behaviour under test in the crash scenario; tf and foreman always do it).
 */
export const TOOLS = [
  tfAt('tf', root),
  {
    name: 'concurrently',
    available: () => true,
    argv: (_dir, commands, { timeoutS, killOthers }) => [
      node,
      [
        path.join(root, 'node_modules/concurrently/dist/bin/concurrently.js'),
        ...(killOthers ? ['-k'] : []),
        '--kill-timeout',
        String(timeoutS * 1000),
        '-n',
        commands.map((c) => c.name).join(','),
        ...commands.map((c) => c.cmd),
      ],
    ],
  },
  {
    name: 'nf',
    available: () => true,
    argv: (dir, commands) => [node, [path.join(root, 'node_modules/foreman/nf.js'), 'start', '-j', procfile(dir, commands)]],
  },
  {
    name: 'foreman',
    fromPath: true,
    available: () => onPath('foreman'),
    argv: (dir, commands, { timeoutS }) => ['foreman', ['start', '-f', procfile(dir, commands), '-t', String(timeoutS)]],
  },
  {
    name: 'hivemind',
    fromPath: true,
    available: () => onPath('hivemind'),
    argv: (dir, commands, { timeoutS }) => ['hivemind', ['--timeout', String(timeoutS), procfile(dir, commands)]],
  },
  {
    name: 'overmind',
    fromPath: true,
    available: () => onPath('overmind') && onPath('tmux'),
    argv: (dir, commands, { timeoutS }) => [
      'overmind',
      ['start', '-f', procfile(dir, commands), '-t', String(timeoutS), '-s', path.join(dir, 'overmind.sock')],
    ],
  },
];
