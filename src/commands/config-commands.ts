import type { Invocation, Options } from '../cli/args.js';
import { readOnlyBanner, readOnlyEnv, readOnlyRefusal } from '../config/read-only.js';
import type { Config, Env, Instance } from '../domain.js';
import { newEnvFileMode } from '../config/env-edit.js';
import { editEnvFile } from '../config/env-write.js';
import { appPaths } from '../config/paths.js';
import { TfError, usageError } from '../errors.js';
import type { CommandContext } from './context.js';
import { env } from './env.js';
import { encryptForFile, secrets, secretsInput } from './secrets.js';
import { bootReport, parseWaitList, services, servicesAdd, servicesRemove, waitFor, WAIT_TIMEOUT_MS, type BootLine, type EnvWriter } from './services.js';

/** The CLI's side of `tf env`, `tf secrets` and `tf services`: parsed options in, the modules' inputs out. */

export function envCommand(invocation: Invocation, context: CommandContext): Promise<number> {
  const { options, rest } = invocation;
  const { root } = appPaths(options, context.cwd);
  return env({ options, rest, json: options.json, reveal: options.reveal, local: options.local, secret: options.secret }, context, {
    encrypt: encryptForFile(root, context),
  });
}

export function secretsCommand(invocation: Invocation, context: CommandContext): Promise<number> {
  const { options } = invocation;
  const input = secretsInput(invocation.rest, { envName: options.envName, local: options.local, root: appPaths(options, context.cwd).root });
  return secrets(input, { ...context, stdin: process.stdin });
}

/** Catalog writes are env-file writes: the same byte-preserving, locked writer as `tf env set`. */
// A developer's own layer may hold what others must not read.
const target = (file: string) => ({ path: file, shown: file, newMode: newEnvFileMode(file) });
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
    if (name === undefined || extra.length > 0)
      throw usageError('tf services add takes NAME [URL]', 'e.g. tf services add DATABASE_URL postgres://app@localhost/app, or the URL on stdin');
    return servicesAdd({ name, url, options, local: options.local }, envWriter, { ...context, stdin: process.stdin });
  }
  if (sub === 'remove') {
    if (name === undefined || url !== undefined) throw usageError('tf services remove takes NAME', 'e.g. tf services remove DATABASE_URL');
    return servicesRemove({ name, options, local: options.local }, envWriter, context);
  }
  throw usageError(`unknown services command "${sub}"`, 'use tf services, tf services add NAME [URL] or tf services remove NAME');
}

/** The longest a timer can wait (2^31 - 1 ms), as for every other timeout tf takes. */

/** `--wait VARS` on start and run: the named backing services accept connections, or exit 1 naming them. */
export async function waitForServices(options: Options, config: Config, context: CommandContext): Promise<void> {
  if (options.wait === undefined) return;
  const names = parseWaitList(options.wait.raw);
  const { raw, source } = options.wait;
  // An empty TF_WAIT means "wait for nothing"; a --wait naming nothing is a mistake, not a silent no-op.
  if (names.length === 0) {
    if (source.startsWith('-') || raw.trim() !== '')
      throw new TfError(source.startsWith('-') ? 'usage' : 'option', `${source} names no variable (${JSON.stringify(raw)})`, {
        hint: 'e.g. --wait DATABASE_URL,REDIS_URL',
      });
    return;
  }
  const timeoutMs = options.waitTimeoutMs ?? WAIT_TIMEOUT_MS;
  await waitFor(config.env, names, {
    timeoutMs,
    secret: (name) => config.secretKeys.has(name),
    onWaiting: (label, error) => context.stderr.write(`tf: waiting for ${label}: ${error}\n`),
  });
}

/** The backing services at boot, masked, as they answer; never holds the start. Abort it when tf stops. */
export function reportServices(config: Config, instances: readonly Instance[], show: (line: BootLine) => void): AbortController {
  const abort = new AbortController();
  const ownPorts = new Map(instances.map((i) => [i.port, i.name]));
  void bootReport(config.env, { signal: abort.signal, secret: (name) => config.secretKeys.has(name), ownPorts }).then(
    (lines) => {
      if (!abort.signal.aborted) for (const line of lines) show(line);
    },
    () => undefined,
  );
  return abort;
}

/** `tf run --read-only`: every NAME_URL swapped for its NAME_READONLY_URL, or a refusal; a masked banner on stderr. */
export function readOnly(options: Options, env: Env, context: CommandContext, secretKeys: ReadonlySet<string>): Env {
  if (!options.readOnly) {
    if (options.allowWrite.length > 0) throw usageError('--allow-write goes with --read-only', 'e.g. tf run --read-only --allow-write REDIS psql');
    return env;
  }
  const result = readOnlyEnv(env, options.allowWrite);
  const refusal = readOnlyRefusal(result);
  if (refusal !== undefined) throw refusal;
  for (const line of readOnlyBanner(result, (name) => secretKeys.has(name))) context.stderr.write(`tf: ${line}\n`);
  return result.env;
}
