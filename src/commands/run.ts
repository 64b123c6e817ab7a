import { quote } from 'shell-quote';
import type { Invocation } from '../cli/args.js';
import { importPackage } from '../cli/packages.js';
import { loadConfig } from '../config/load.js';
import type { Env, Launch } from '../domain.js';
import { TfError, usageError } from '../errors.js';
import { newRunMarker, withMarker } from '../host/process-table.js';
import { shellLaunch } from '../plan/launch.js';
import { runEnv } from '../plan/plan.js';
import { signalNumber } from '../supervisor/supervisor.js';
import { startWatchdog } from '../supervisor/watchdog.js';
import { readOnly, waitForServices } from './config-commands.js';
import type { CommandContext } from './context.js';
import { releaseEnvName, withReleaseId } from './release-phase.js';

/** A single argument that is one plain word runs as a program; anything else needs the shell. */
const PLAIN_WORD = /^[\w@%+=:,./-]+$/;

/** Signals tf passes on; SIGINT is not among them: a terminal's Ctrl-C reaches the child itself. */
const FORWARDED: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/**
 * Why a command could not start, by errno, in words of our own: Node's messages may quote the
 * environment (a value holding a NUL byte), which can hold secrets.
 */
function spawnFailure(command: string, code: string | undefined): TfError {
  if (code === 'ENOENT') return new TfError('spawn', `command not found: ${command}`, { hint: 'check the spelling or your PATH', exitCode: 127 });
  if (code === 'EACCES') return new TfError('spawn', `permission denied: ${command}`, { hint: 'make it executable (chmod +x)', exitCode: 126 });
  if (code === 'E2BIG') return new TfError('spawn', `could not run ${command}: its arguments and environment are too large (E2BIG)`);
  return new TfError('spawn', `could not run ${command}${code === undefined ? '' : ` (${code})`}`);
}

/** No process can receive a NUL byte in its environment: name the variable, never its value. */
function checkEnv(env: Env): void {
  for (const [key, value] of Object.entries(env)) {
    if (key.includes('\0') || value.includes('\0')) {
      throw new TfError('envfile', `the value of ${key.replaceAll('\0', '\\0')} holds a NUL byte, which no process can receive`, { hint: 'remove it from the env file' });
    }
  }
}

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

  const loaded = loadConfig({ options: invocation.options, procfileOptional: true }, { cwd: context.cwd, shellEnv: context.env });
  const { config } = withReleaseId(loaded, releaseEnvName(invocation.options));
  const type = config.procfile.types.find((t) => t.name === first);
  const launch = launchFor([first, ...argv.slice(1)], type !== undefined, type?.command);
  const env = readOnly(invocation.options, runEnv(config, type), context);
  checkEnv(env);
  await waitForServices(invocation.options, config, context);

  // execa is loaded here only: `tf start` never needs it.
  const { execa } = await importPackage<typeof import('execa')>('execa');
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
    throw spawnFailure(first, (result as { code?: string }).code);
  } finally {
    watchdog.release();
    process.off('SIGINT', ignore);
    for (const signal of FORWARDED) process.off(signal, forward);
  }
}
