import type { Invocation } from '../cli/args.js';
import { loadConfig } from '../config/load.js';
import { usageError } from '../errors.js';
import { newRunMarker, withMarker } from '../host/process-table.js';
import { runEnv } from '../plan/plan.js';
import { startWatchdog } from '../supervisor/watchdog.js';
import { readOnly, waitForServices } from './config-commands.js';
import { type CommandContext, writeWarnings } from './context.js';
import { oneOffExitCode, oneOffLaunch } from './one-off.js';
import { releaseEnvName, withReleaseId } from './release-phase.js';

/** Signals tf passes on; SIGINT is not among them: a terminal's Ctrl-C reaches the child itself. */
const FORWARDED: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

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
  // What start would warn about (a skipped .env line, a key no process can get), on stderr: stdout is the command's.
  writeWarnings(context.stderr, config.warnings);
  const { launch, type } = oneOffLaunch([first, ...argv.slice(1)], config.procfile.types);
  // A Procfile type runs on its first port; a plain command gets PORT only when -p/TF_PORT names one.
  const port: Record<string, string> = type === undefined && invocation.options.port !== undefined ? { PORT: String(invocation.options.port) } : {};
  const env = readOnly(invocation.options, { ...runEnv(config, type), ...port }, context, config.secretKeys);
  await waitForServices(invocation.options, config, context);

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
    return oneOffExitCode(await child, first, config.root);
  } finally {
    watchdog.release();
    process.off('SIGINT', ignore);
    for (const signal of FORWARDED) process.off(signal, forward);
  }
}
