import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'shell-quote';
import { SHELL_WORDS } from '../plan/launch.js';

/** Words that run the next word as the program. */
const WRAPPERS = new Set(['exec', 'command', 'nohup', 'env', 'time', 'nice']);
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;

/** The program a command line starts, skipping `FOO=1` prefixes and wrappers such as `exec`. */
export function programOf(command: string): string | undefined {
  let tokens: ReturnType<typeof parse>;
  try {
    tokens = parse(command, (name) => `$${name}`);
  } catch {
    return undefined;
  }
  for (const token of tokens) {
    if (typeof token !== 'string') return undefined;
    if (ASSIGNMENT.test(token) || WRAPPERS.has(token) || token.startsWith('-')) continue;
    if (SHELL_WORDS.has(token) || token.includes('$')) return undefined;
    return token;
  }
  return undefined;
}

const executable = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
};

/** Whether `program` resolves the way /bin/sh would from `cwd` with this PATH. */
export function findProgram(program: string, cwd: string, pathVar: string | undefined): boolean {
  if (program.includes('/')) return executable(path.resolve(cwd, program));
  return (pathVar ?? '').split(':').some((dir) => dir !== '' && executable(path.join(path.resolve(cwd, dir), program)));
}
