import { quote } from 'shell-quote';
import type { Invocation } from '../cli/args.js';
import { loadConfig } from '../config/load.js';
import type { Launch } from '../domain.js';
import { TfError, usageError } from '../errors.js';
import { newRunMarker, withMarker } from '../host/process-table.js';
import { shellLaunch } from '../plan/launch.js';
import { runEnv } from '../plan/plan.js';
import { startFailure } from '../supervisor/spawn.js';
import { signalNumber } from '../supervisor/supervisor.js';
import { startWatchdog } from '../supervisor/watchdog.js';
import type { CommandContext } from './context.js';

/** A single argument that is one plain word runs as a program; anything else needs the shell. */
const PLAIN_WORD = /^[\w@%+=:,./-]+$/;

/** Signals tf passes on; SIGINT is not among them: a terminal's Ctrl-C reaches the child itself. */
const FORWARDED: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/**
 * `tf run web`, `tf run web --verbose`: a Procfile type, with the arguments appended to its
 * command, shell-quoted, as foreman's `run` and `heroku run` do. Anything else is a command.
 */
function launchFor(argv: readonly [string, ...string[]], isType: boolean, typeCommand: string | undefined): Launch {
  const [first, ...rest] = argv;
  if (isType && typeCommand !== undefined) return shellLaunch(rest.length === 0 ? typeCommand : `${typeCommand} ${quote(rest)}`);
  if (rest.length === 0 && !PLAIN_WORD.test(first)) return shellLaunch(first);
  return { file: first, args: rest };
}

/**
 * `tf run`: a one-off admin process with exactly the environment `start` gives, attached
 * to the terminal (tf's own process group), exiting with the command's exit code. As with a
 * shell, what the command leaves running when it exits is its own business; but if tf run is
 * killed (even with SIGKILL), the watchdog stops the command, its descendants and whatever
 * still carries the run's marker.
 */
export async function run(invocation: Invocation, context: CommandContext): Promise<number> {
  const argv = invocation.rest;
  const first = argv[0];
  if (first === undefined) throw usageError('tf run needs a command', 'e.g. "tf run node migrate.js" or "tf run web"');

  const config = loadConfig({ options: invocation.options, procfileOptional: true }, { cwd: context.cwd, shellEnv: context.env });
  const type = config.procfile.types.find((t) => t.name === first);
  const launch = launchFor([first, ...argv.slice(1)], type !== undefined, type?.command);
  const env = runEnv(config, type);

  // execa is loaded here only: `tf start` never needs it.
  const { execa } = await import('execa');
  const marker = newRunMarker();
  const watchdog = startWatchdog(marker);
  const child = execa(launch.file, [...launch.args], {
    cwd: config.root,
    env: withMarker(env, marker),
    extendEnv: false,
    stdio: 'inherit',
    reject: false,
  });
  if (child.pid !== undefined) watchdog.addProcess(child.pid);
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal);
  };
  // The child shares the terminal: Ctrl-C reaches it directly; tf waits for its verdict.
  const ignore = (): void => {};
  process.on('SIGINT', ignore);
  for (const signal of FORWARDED) process.on(signal, forward);
  try {
    const result = await child;
    if (result.signal !== undefined) return 128 + signalNumber(result.signal);
    if (result.exitCode !== undefined) return result.exitCode;
    const code = (result as { code?: string }).code;
    const { message, hint } = startFailure(code, { file: first, cwd: config.root });
    // As a shell does: 127 for a command not found, 126 for one that cannot be run.
    const exitCode = code === 'ENOENT' ? 127 : code === 'EACCES' ? 126 : 1;
    throw new TfError('spawn', message, hint === undefined ? { exitCode } : { hint, exitCode });
  } finally {
    watchdog.release();
    process.off('SIGINT', ignore);
    for (const signal of FORWARDED) process.off(signal, forward);
  }
}
