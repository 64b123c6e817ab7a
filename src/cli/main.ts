import path from 'node:path';
import type { CommandContext } from '../commands/context.js';
import { TfError, usageError } from '../errors.js';
import { parseInvocation, type Invocation } from './args.js';
import { usage } from './usage.js';

/** Set by the build from package.json. */
declare const TF_BUILD_VERSION: string | undefined;
const version = (): string => (typeof TF_BUILD_VERSION === 'string' ? TF_BUILD_VERSION : 'dev');

/** Set by the build: each command is a bundle of its own beside this one (dist/commands/NAME.cjs). */
declare const TF_COMMAND_BUNDLES: boolean | undefined;

/**
 * A command's own bundle, so that a command compiles and evaluates only the code it can run
 * (one bundle of every command made each start pay for all of them). Each loader below
 * tests the build's flag itself (esbuild folds the test only where it is written), so the build
 * drops the import, which would otherwise put the command back into this bundle; run from
 * source (the tests), the module is imported.
 */
const bundled = <T>(name: string): Promise<T> => Promise.resolve(require(path.join(__dirname, 'commands', `${name}.cjs`)) as T);

/** Each command's module, loaded when it is run. */
const load = {
  start: () => (typeof TF_COMMAND_BUNDLES === 'boolean' ? bundled<typeof import('../commands/start.js')>('start') : import('../commands/start.js')),
  run: () => (typeof TF_COMMAND_BUNDLES === 'boolean' ? bundled<typeof import('../commands/run.js')>('run') : import('../commands/run.js')),
  runWith: () => (typeof TF_COMMAND_BUNDLES === 'boolean' ? bundled<typeof import('../commands/run-with.js')>('run-with') : import('../commands/run-with.js')),
  check: () => (typeof TF_COMMAND_BUNDLES === 'boolean' ? bundled<typeof import('../commands/check.js')>('check') : import('../commands/check.js')),
  release: () => (typeof TF_COMMAND_BUNDLES === 'boolean' ? bundled<typeof import('../commands/release.js')>('release') : import('../commands/release.js')),
  export: () => (typeof TF_COMMAND_BUNDLES === 'boolean' ? bundled<typeof import('../commands/export.js')>('export') : import('../commands/export.js')),
  configCommands: () =>
    typeof TF_COMMAND_BUNDLES === 'boolean'
      ? bundled<typeof import('../commands/config-commands.js')>('config-commands')
      : import('../commands/config-commands.js'),
  ps: () => (typeof TF_COMMAND_BUNDLES === 'boolean' ? bundled<typeof import('../commands/ps.js')>('ps') : import('../commands/ps.js')),
  restart: () => (typeof TF_COMMAND_BUNDLES === 'boolean' ? bundled<typeof import('../commands/restart.js')>('restart') : import('../commands/restart.js')),
  stop: () => (typeof TF_COMMAND_BUNDLES === 'boolean' ? bundled<typeof import('../commands/stop.js')>('stop') : import('../commands/stop.js')),
  scale: () => (typeof TF_COMMAND_BUNDLES === 'boolean' ? bundled<typeof import('../commands/scale.js')>('scale') : import('../commands/scale.js')),
  logs: () => (typeof TF_COMMAND_BUNDLES === 'boolean' ? bundled<typeof import('../commands/logs.js')>('logs') : import('../commands/logs.js')),
  signal: () => (typeof TF_COMMAND_BUNDLES === 'boolean' ? bundled<typeof import('../commands/signal.js')>('signal') : import('../commands/signal.js')),
};

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
      return (await load.start()).start(invocation, context);
    case 'run':
      return invocation.options.with !== undefined ? (await load.runWith()).runWith(invocation, context) : (await load.run()).run(invocation, context);
    case 'check':
      return (await load.check()).check(invocation, context);
    case 'release':
      return (await load.release()).release({ options: invocation.options, rest: invocation.rest }, context);
    case 'releases':
      return (await load.release()).releases({ options: invocation.options, rest: invocation.rest }, context);
    case 'export': {
      const { options, rest } = invocation;
      if (rest.length > 2) throw usageError(`tf export takes FORMAT DIR, not ${rest.length} words`, 'e.g. tf export systemd ./out --user');
      return (await load.export()).exportCommand(
        {
          format: rest[0],
          dir: rest[1],
          config: options,
          timeoutSeconds: options.timeoutMs / 1000,
          app: options.app,
          appSource: options.appSource,
          user: options.user,
          runAs: options.runAs,
          image: options.image,
          imageSource: options.imageSource,
          noSecrets: options.noSecrets,
          force: options.force,
        },
        context,
      );
    }
    case 'env':
      return (await load.configCommands()).envCommand(invocation, context);
    case 'secrets':
      return (await load.configCommands()).secretsCommand(invocation, context);
    case 'services':
      return (await load.configCommands()).servicesCommand(invocation, context);
    case 'ps':
      return (await load.ps()).ps(invocation, context);
    case 'restart':
      return (await load.restart()).restart(invocation, context);
    case 'stop':
      return (await load.stop()).stop(invocation, context);
    case 'scale':
      return (await load.scale()).scale(invocation, context);
    case 'logs':
      return (await load.logs()).logs(invocation, context);
    case 'signal':
      return (await load.signal()).signal(invocation, context);
    default:
      throw new TfError('internal', `no handler for "tf ${invocation.command}"`);
  }
}

/** The only place that prints a TfError and decides the exit code. */
export async function main(argv: readonly string[], context: CommandContext): Promise<number> {
  try {
    return await dispatch(parseInvocation(argv, context.env), context);
  } catch (error) {
    if (TfError.is(error)) {
      context.stderr.write(`tf: ${error.describe()}\n`);
      if (context.env.TF_LOG === 'debug') context.stderr.write(`${error.stack ?? ''}\n`);
      return error.exitCode;
    }
    context.stderr.write(`tf: internal error: ${error instanceof Error ? error.message : String(error)}; please report it (TF_LOG=debug shows the stack)\n`);
    if (context.env.TF_LOG === 'debug' && error instanceof Error) context.stderr.write(`${error.stack ?? ''}\n`);
    return 70;
  }
}
