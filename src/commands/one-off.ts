import { quote } from 'shell-quote';
import type { Env, Launch, ProcessType } from '../domain.js';
import { TfError } from '../errors.js';
import { shellLaunch } from '../plan/launch.js';
import { signalNumber } from '../supervisor/supervisor.js';

/**
 * How `tf run` starts its command and reads its end; `run` and `run --with` share these so the
 * command behaves the same with or without services around it.
 */

/** A single argument that is one plain word runs as a program; anything else needs the shell. */
const PLAIN_WORD = /^[\w@%+=:,./-]+$/;

/**
 * `web`, `web --verbose`: a Procfile type, with the arguments appended to its command,
 * shell-quoted, as foreman's `run` and `heroku run` do. A lone argument with shell syntax runs
 * under /bin/sh; anything else is argv as given.
 */
export function oneOffLaunch(argv: readonly [string, ...string[]], types: readonly ProcessType[]): { launch: Launch; type: ProcessType | undefined } {
  const [first, ...rest] = argv;
  const type = types.find((t) => t.name === first);
  if (type !== undefined) return { launch: shellLaunch(rest.length === 0 ? type.command : `${type.command} ${quote(rest)}`), type };
  if (rest.length === 0 && !PLAIN_WORD.test(first)) return { launch: shellLaunch(first), type: undefined };
  return { launch: { file: first, args: rest }, type: undefined };
}

/**
 * Why a command could not start, by errno, in words of our own: Node's messages may quote the
 * environment (a value holding a NUL byte), which can hold secrets.
 */
export function spawnFailure(command: string, code: string | undefined): TfError {
  if (code === 'ENOENT') return new TfError('spawn', `command not found: ${command}`, { hint: 'check the spelling or your PATH', exitCode: 127 });
  if (code === 'EACCES') return new TfError('spawn', `permission denied: ${command}`, { hint: 'make it executable (chmod +x)', exitCode: 126 });
  if (code === 'E2BIG') return new TfError('spawn', `could not run ${command}: its arguments and environment are too large (E2BIG)`);
  return new TfError('spawn', `could not run ${command}${code === undefined ? '' : ` (${code})`}`);
}

/** No process can receive a NUL byte in its environment: name the variable, never its value. */
export function checkEnv(env: Env): void {
  for (const [key, value] of Object.entries(env)) {
    if (key.includes('\0') || value.includes('\0')) {
      throw new TfError('envfile', `the value of ${key.replaceAll('\0', '\\0')} holds a NUL byte, which no process can receive`, {
        hint: 'remove it from the env file',
      });
    }
  }
}

/** What execa reports about a finished command (with `reject: false`). */
export interface OneOffResult {
  readonly exitCode?: number | undefined;
  readonly signal?: string | undefined;
}

/** The command's exit code as a shell gives it (128+N for signal N); a command that could not start is a TfError. */
export function oneOffExitCode(result: OneOffResult, command: string): number {
  if (result.signal !== undefined) return 128 + signalNumber(result.signal as NodeJS.Signals);
  if (result.exitCode !== undefined) return result.exitCode;
  throw spawnFailure(command, (result as { code?: string }).code);
}
