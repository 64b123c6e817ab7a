import type { CommandContext } from '../commands/context.js';
import { TfError, usageError } from '../errors.js';
import { parseInvocation, type Invocation } from './args.js';
import { usage } from './usage.js';

/** Set by the build from package.json. */
declare const TF_BUILD_VERSION: string | undefined;
const version = (): string => (typeof TF_BUILD_VERSION === 'string' ? TF_BUILD_VERSION : 'dev');

async function dispatch(invocation: Invocation, context: CommandContext): Promise<number> {
  if (invocation.help || invocation.command === 'help') {
    if (!invocation.help && !invocation.commandGiven) {
      // A bare `tf` is a usage error: a script that forgot its command must not pass.
      context.stderr.write(usage());
      return 2;
    }
    context.stdout.write(usage(invocation.command === 'help' ? invocation.rest[0] : invocation.command));
    return 0;
  }
  switch (invocation.command) {
    case 'version':
      context.stdout.write(`tf ${version()}\n`);
      return 0;
    case 'start':
      return (await import('../commands/start.js')).start(invocation, context);
    case 'run':
      return invocation.options.with !== undefined
        ? (await import('../commands/run-with.js')).runWith(invocation, context)
        : (await import('../commands/run.js')).run(invocation, context);
    case 'check':
      return (await import('../commands/check.js')).check(invocation, context);
    case 'release':
      return (await import('../commands/release.js')).release({ options: invocation.options, rest: invocation.rest }, context);
    case 'releases':
      return (await import('../commands/release.js')).releases({ options: invocation.options, rest: invocation.rest }, context);
    case 'export': {
      const { options, rest } = invocation;
      if (rest.length > 2) throw usageError(`tf export takes FORMAT DIR, not ${rest.length} words`, 'e.g. tf export systemd ./out --user');
      return (await import('../commands/export.js')).exportCommand(
        {
          format: rest[0],
          dir: rest[1],
          config: options,
          timeoutSeconds: options.timeoutMs / 1000,
          app: options.app,
          user: options.user,
          image: options.image,
          noSecrets: options.noSecrets,
          force: options.force,
        },
        context,
      );
    }
    case 'env':
      return (await import('../commands/config-commands.js')).envCommand(invocation, context);
    case 'secrets':
      return (await import('../commands/config-commands.js')).secretsCommand(invocation, context);
    case 'services':
      return (await import('../commands/config-commands.js')).servicesCommand(invocation, context);
    case 'ps':
      return (await import('../commands/ps.js')).ps(invocation, context);
    case 'restart':
      return (await import('../commands/restart.js')).restart(invocation, context);
    case 'stop':
      return (await import('../commands/stop.js')).stop(invocation, context);
    case 'scale':
      return (await import('../commands/scale.js')).scale(invocation, context);
    case 'logs':
      return (await import('../commands/logs.js')).logs(invocation, context);
    case 'signal':
      return (await import('../commands/signal.js')).signal(invocation, context);
    default:
      throw new TfError('internal', `no handler for "tf ${invocation.command}"`);
  }
}

/** The only place that prints a TfError and decides the exit code. */
export async function main(argv: readonly string[], context: CommandContext): Promise<number> {
  try {
    return await dispatch(parseInvocation(argv, context.env), context);
  } catch (error) {
    if (error instanceof TfError) {
      context.stderr.write(`tf: ${error.describe()}\n`);
      if (context.env.TF_LOG === 'debug') context.stderr.write(`${error.stack ?? ''}\n`);
      return error.exitCode;
    }
    context.stderr.write(`tf: internal error: ${error instanceof Error ? error.message : String(error)}; please report it (TF_LOG=debug shows the stack)\n`);
    if (context.env.TF_LOG === 'debug' && error instanceof Error) context.stderr.write(`${error.stack ?? ''}\n`);
    return 70;
  }
}
