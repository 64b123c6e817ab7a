import type { Invocation } from '../cli/args.js';
import { editEnvFile } from '../config/env-write.js';
import { appPaths } from '../config/paths.js';
import { usageError } from '../errors.js';
import type { CommandContext } from './context.js';
import { env } from './env.js';
import { encryptForFile, secrets, secretsInput } from './secrets.js';
import { services, servicesAdd, servicesRemove, type EnvWriter } from './services.js';

/** The CLI's side of `tf env`, `tf secrets` and `tf services`: parsed options in, the modules' inputs out. */

export function envCommand(invocation: Invocation, context: CommandContext): Promise<number> {
  const { options, rest } = invocation;
  const { root } = appPaths(options, context.cwd);
  return env({ options, rest, json: options.json, reveal: options.reveal, local: options.local, secret: options.secret }, context, { encrypt: encryptForFile(root, context) });
}

export function secretsCommand(invocation: Invocation, context: CommandContext): Promise<number> {
  const { options } = invocation;
  const input = secretsInput(invocation.rest, { envName: options.envName, local: options.local, root: appPaths(options, context.cwd).root });
  return secrets(input, { ...context, stdin: process.stdin });
}

/** Catalog writes are env-file writes: the same byte-preserving, locked writer as `tf env set`. */
// A developer's own layer may hold what others must not read.
const target = (file: string) => ({ path: file, shown: file, newMode: file.endsWith('.local') ? 0o600 : 0o644 });
const envWriter: EnvWriter = {
  set: async (file, key, value) => {
    await editEnvFile(target(file), [{ kind: 'set', key, value }]);
  },
  unset: async (file, key) => (await editEnvFile(target(file), [{ kind: 'unset', key }])).outcomes.some((o) => o.kind === 'removed'),
};

export function servicesCommand(invocation: Invocation, context: CommandContext): Promise<number> {
  const { options } = invocation;
  const [sub, name, url, ...extra] = invocation.rest;
  if (sub === undefined) return services({ options, probe: options.probe, json: options.json }, context);
  if (sub === 'add') {
    if (name === undefined || url === undefined || extra.length > 0) throw usageError('tf services add takes NAME URL', 'e.g. tf services add DATABASE_URL postgres://app@localhost/app');
    return servicesAdd({ name, url, options, local: options.local }, envWriter, context);
  }
  if (sub === 'remove') {
    if (name === undefined || url !== undefined) throw usageError('tf services remove takes NAME', 'e.g. tf services remove DATABASE_URL');
    return servicesRemove({ name, options, local: options.local }, envWriter, context);
  }
  throw usageError(`unknown services command "${sub}"`, 'use tf services, tf services add NAME URL or tf services remove NAME');
}
