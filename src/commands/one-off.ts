import { existsSync } from 'node:fs';
import { quote } from 'shell-quote';
import type { Launch, ProcessType } from '../domain.js';
import { TfError } from '../errors.js';
import { shellLaunch } from '../plan/launch.js';
import { exitCodeForSignal } from '../host/signals.js';
import { startFailure } from '../supervisor/spawn.js';

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
 * Why a command could not start, in the words every start failure uses; 127 and 126 as a shell
 * gives them. A working directory that does not exist is tf's own failure (1), not the command's.
 */
export function spawnFailure(command: string, code: string | undefined, cwd: string): TfError {
  const { message, hint } = startFailure(code, { file: command, cwd });
  const exitCode = code === 'ENOENT' && existsSync(cwd) ? 127 : code === 'EACCES' ? 126 : 1;
  return new TfError('spawn', message, hint === undefined ? { exitCode } : { hint, exitCode });
}

/** What execa reports about a finished command (with `reject: false`). */
export interface OneOffResult {
  readonly exitCode?: number | undefined;
  readonly signal?: string | undefined;
}

/** The command's exit code as a shell gives it (128+N for signal N); a command that could not start is a TfError. */
export function oneOffExitCode(result: OneOffResult, command: string, cwd: string): number {
  if (result.signal !== undefined) return exitCodeForSignal(result.signal as NodeJS.Signals);
  if (result.exitCode !== undefined) return result.exitCode;
  throw spawnFailure(command, (result as { code?: string }).code, cwd);
}
