import type { Invocation } from '../cli/args.js';
import { importPackage } from '../cli/packages.js';
import { loadConfig } from '../config/load.js';
import { TfError, usageError } from '../errors.js';
import { shellLaunch } from '../plan/launch.js';
import { runEnv } from '../plan/plan.js';
import { signalNumber } from '../supervisor/supervisor.js';
import type { CommandContext } from './context.js';

/** A single argument that is one plain word runs as a program; anything else needs the shell. */
const PLAIN_WORD = /^[\w@%+=:,./-]+$/;

/** Signals tf passes on; SIGINT is not among them: a terminal's Ctrl-C reaches the child itself. */
const FORWARDED: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/**
 * `tf run`: a one-off admin process with exactly the environment `start` gives, attached
 * to the terminal, exiting with the command's exit code.
 */
export async function run(invocation: Invocation, context: CommandContext): Promise<number> {
  const argv = invocation.rest;
  const first = argv[0];
  if (first === undefined) throw usageError('tf run needs a command', 'e.g. "tf run node migrate.js" or "tf run web"');

  const config = loadConfig({ options: invocation.options, procfileOptional: true }, { cwd: context.cwd, shellEnv: context.env });
  const type = argv.length === 1 ? config.procfile.types.find((t) => t.name === first) : undefined;
  const launch =
    type !== undefined
      ? shellLaunch(type.command)
      : argv.length === 1 && !PLAIN_WORD.test(first)
        ? shellLaunch(first)
        : { file: first, args: argv.slice(1) };

  // execa is loaded here only: `tf start` never needs it.
  const { execa } = await importPackage<typeof import('execa')>('execa');
  const child = execa(launch.file, [...launch.args], {
    cwd: config.root,
    env: runEnv(config, type),
    extendEnv: false,
    stdio: 'inherit',
    reject: false,
  });
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
    if (code === 'ENOENT') throw new TfError('spawn', `command not found: ${first}`, { hint: 'check the spelling or your PATH', exitCode: 127 });
    if (code === 'EACCES') throw new TfError('spawn', `permission denied: ${first}`, { hint: 'make it executable (chmod +x)', exitCode: 126 });
    throw new TfError('spawn', `could not run ${first}: ${result.shortMessage}`);
  } finally {
    process.off('SIGINT', ignore);
    for (const signal of FORWARDED) process.off(signal, forward);
  }
}
