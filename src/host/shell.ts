import { spawnSync } from 'node:child_process';
import { toolEnv } from './tool-env.js';

/** Shell keywords and builtins: `exec` cannot run them (or they need no process of their own). */
export const SHELL_WORDS = new Set([
  'if',
  'then',
  'else',
  'elif',
  'fi',
  'case',
  'esac',
  'for',
  'while',
  'until',
  'do',
  'done',
  'function',
  'select',
  '{',
  '}',
  '!',
  '[[',
  'time',
  'exec',
  '.',
  ':',
  '[',
  'alias',
  'bg',
  'break',
  'cd',
  'command',
  'continue',
  'echo',
  'eval',
  'exit',
  'export',
  'false',
  'fg',
  'getopts',
  'hash',
  'jobs',
  'kill',
  'local',
  'printf',
  'pwd',
  'read',
  'readonly',
  'return',
  'set',
  'shift',
  'source',
  'test',
  'times',
  'trap',
  'true',
  'type',
  'ulimit',
  'umask',
  'unalias',
  'unset',
  'wait',
]);

/**
 * What /bin/sh says about a command's syntax without running it (`sh -n`): undefined when it
 * parses, else the shell's own message ("Syntax error: Unterminated quoted string").
 */
export function shellSyntaxError(command: string): string | undefined {
  const result = spawnSync('/bin/sh', ['-n', '-c', command], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], env: toolEnv({ LC_ALL: 'C' }) });
  if (result.status === 0 || result.error !== undefined) return undefined;
  // "sh: 1: Syntax error: ..." (dash) or "sh: -c: line 1: syntax error ..." (bash): the message after the place.
  const line = (result.stderr ?? '').split('\n').find((l) => l.trim() !== '') ?? 'a syntax error';
  return line.replace(/^[^:]*:\s*(?:-c:\s*)?(?:line\s*)?\d+:\s*/, '').trim();
}
