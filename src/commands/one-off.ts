import type { Launch, ProcessType } from '../domain.js';
import { TfError } from '../errors.js';
import { shellLaunch } from '../plan/launch.js';
import { signalNumber } from '../supervisor/supervisor.js';

/** A single argument that is one plain word runs as a program; anything else needs the shell. */
const PLAIN_WORD = /^[\w@%+=:,./-]+$/;

/**
 * How `tf run` starts its command: a lone Procfile type name runs that type's command, a lone
 * argument with shell syntax runs under /bin/sh, anything else is argv as given.
 */
export function oneOffLaunch(argv: readonly [string, ...string[]], types: readonly ProcessType[]): { launch: Launch; type: ProcessType | undefined } {
  const [first] = argv;
  const type = argv.length === 1 ? types.find((t) => t.name === first) : undefined;
  if (type !== undefined) return { launch: shellLaunch(type.command), type };
  if (argv.length === 1 && !PLAIN_WORD.test(first)) return { launch: shellLaunch(first), type: undefined };
  return { launch: { file: first, args: argv.slice(1) }, type: undefined };
}

/** What execa reports about a finished command (with `reject: false`). */
export interface OneOffResult {
  readonly exitCode?: number | undefined;
  readonly signal?: string | undefined;
  readonly shortMessage?: string;
}

/** The command's exit code as a shell gives it (128+N for signal N); a command that could not start is a TfError. */
export function oneOffExitCode(result: OneOffResult, name: string): number {
  if (result.signal !== undefined) return 128 + signalNumber(result.signal as NodeJS.Signals);
  if (result.exitCode !== undefined) return result.exitCode;
  const code = (result as { code?: string }).code;
  if (code === 'ENOENT') throw new TfError('spawn', `command not found: ${name}`, { hint: 'check the spelling or your PATH', exitCode: 127 });
  if (code === 'EACCES') throw new TfError('spawn', `permission denied: ${name}`, { hint: 'make it executable (chmod +x)', exitCode: 126 });
  throw new TfError('spawn', `could not run ${name}: ${result.shortMessage ?? 'unknown error'}`);
}
