import path from 'node:path';
import { loadConfig, type ConfigOptions } from '../config/load.js';
import { MASK, maskValue } from '../config/mask.js';
import {
  catalog,
  describeUrl,
  formatAddress,
  resourceOf,
  serviceVarName,
  SECRET_REASON,
  unreadable,
  unreadableReason,
  type Resource,
  type ResourceFacts,
  type ServiceVar,
} from '../config/services.js';
import type { Env, EnvOrigin } from '../domain.js';
import { TfError, usageError } from '../errors.js';
import { probeAll, waitUntilUp, type Lookup, type ProbeReport, type ProbeTarget } from '../host/service-probe.js';
import type { CommandContext } from './context.js';
import { readValue, type ValueContext } from './read-value.js';

/**
 * `tf services`: the backing services the environment points at, probed on demand; `services
 * add/remove` (env-file writes); `--wait` before spawning; the boot report of `tf start`.
 */

/**
 * Which variables were encrypted, when the caller knows: the masker hides them whole, and
 * where they point (scheme, host, port, database) is never printed either.
 */
export type SecretTest = (name: string) => boolean;

export interface ServicesInput {
  /** The CLI's parsed options (`--env NAME`, `-f`, `-d`, `-e`...), as `loadConfig` takes them. */
  readonly options: ConfigOptions;
  readonly probe: boolean;
  readonly json: boolean;
}

/** `postgres db:5432 app`; an encrypted URL is described by that alone. */
const describeResource = (r: ResourceFacts & { readonly secret: boolean }): string =>
  r.secret ? 'encrypted URL' : `${r.scheme} ${r.addresses.map(formatAddress).join(',')}${r.database === undefined ? '' : ` ${r.database}`}`;

/** What tf says of a variable it cannot read as a URL: listed, never probed, never an error. */
const unreadableText = (reason: string): string => `not a URL tf can read: ${reason}`;

/** The target a probe connects to; `http` adds the GET for http(s) resources. */
function targetOf(resource: Resource, variable: ServiceVar = resource.vars[0] as ServiceVar, http = false): ProbeTarget {
  const label = `${variable.name} (${variable.masked})`;
  const wantsGet = http && (resource.scheme === 'http' || resource.scheme === 'https');
  return { label, addresses: resource.addresses, ...(wantsGet ? { httpUrl: variable.url } : {}), ...(resource.secret ? { redact: MASK } : {}) };
}

function stateText(report: ProbeReport): string {
  switch (report.state.kind) {
    case 'up':
      return `up ${report.state.latencyMs}ms${report.http?.status === undefined ? '' : ` (HTTP ${report.http.status})`}`;
    case 'down':
      return `DOWN: ${report.state.error}`;
    case 'skipped':
      return `not probed: ${report.state.reason}`;
  }
}

function jsonOf(resource: Resource, report: ProbeReport | undefined): unknown {
  // Where an encrypted URL points is null here, as unknown: the probe's errors are redacted already.
  const hidden = resource.secret;
  return {
    scheme: hidden ? null : resource.scheme,
    addresses: hidden ? null : resource.addresses,
    database: hidden ? null : (resource.database ?? null),
    encrypted: resource.secret,
    vars: resource.vars.map((v) => ({ name: v.name, value: v.masked })),
    ...(report === undefined
      ? {}
      : {
          probe: {
            ...report.state,
            addresses: hidden ? null : report.addresses.map((a) => ({ host: a.host, address: a.address ?? null, port: a.port, ...a.outcome })),
            ...(report.http === undefined ? {} : { http: { status: report.http.status ?? null, ...report.http.outcome } }),
          },
        }),
  };
}

export interface ProbeSettings {
  readonly timeoutMs?: number;
  readonly lookup?: Lookup;
}

/** `tf services [--env NAME] [--probe] [--json]`; with `--probe`, exit 1 when a resource is down. */
export async function services(input: ServicesInput, context: CommandContext, settings: ProbeSettings = {}): Promise<number> {
  const config = loadConfig({ options: input.options, procfileOptional: true }, { cwd: context.cwd, shellEnv: context.env });
  const secret: SecretTest = (name) => config.secretKeys.has(name);
  return listServices(config.env, { probe: input.probe, json: input.json, secret, origins: config.envOrigins }, context, settings);
}

/** The body of `tf services` on an environment already loaded (and decrypted). */
export async function listServices(
  env: Env,
  input: Pick<ServicesInput, 'probe' | 'json'> & { readonly secret?: SecretTest; readonly origins?: ReadonlyMap<string, EnvOrigin> },
  context: CommandContext,
  settings: ProbeSettings = {},
): Promise<number> {
  const origin = (name: string): string => {
    const found = input.origins?.get(name);
    return found === undefined ? '' : found.kind === 'shell' ? '  (shell)' : `  (${found.file}:${found.line})`;
  };
  const options = input.secret === undefined ? {} : { secret: input.secret };
  const resources = catalog(env, options);
  const unread = unreadable(env, options);
  const reports = input.probe
    ? await probeAll(
        resources.map((r) => targetOf(r, undefined, true)),
        settings,
      )
    : undefined;
  const down = reports?.filter((r) => r.state.kind === 'down').length ?? 0;
  if (input.json) {
    const document = {
      resources: resources.map((r, i) => jsonOf(r, reports?.[i])),
      unreadable: unread.map((u) => ({ name: u.name, value: u.masked, reason: u.reason })),
    };
    context.stdout.write(`${JSON.stringify(document)}\n`);
    return down > 0 ? 1 : 0;
  }
  if (resources.length === 0 && unread.length === 0) {
    context.stdout.write('no backing services: no variable holds a URL with a host\n');
    return 0;
  }
  const lines: string[] = [];
  resources.forEach((resource, i) => {
    const report = reports?.[i];
    lines.push(`${describeResource(resource)}${report === undefined ? '' : `  ${stateText(report)}`}`);
    for (const v of resource.vars) lines.push(`  ${v.name}=${v.masked}${origin(v.name)}`);
  });
  for (const u of unread) lines.push(`${unreadableText(u.reason)}${reports === undefined ? '' : '  not probed'}`, `  ${u.name}=${u.masked}${origin(u.name)}`);
  const listed = resources.length + unread.length;
  if (reports !== undefined) lines.push(down === 0 ? `${listed} up or not probed` : `${down} of ${listed} down`);
  context.stdout.write(`${lines.join('\n')}\n`);
  return down > 0 ? 1 : 0;
}

/**
 * Env-file writes, from src/config/env-write.ts (byte-preserving, atomic). `unset` says
 * whether the key was there.
 */
export interface EnvWriter {
  set(file: string, key: string, value: string): void | Promise<void>;
  unset(file: string, key: string): boolean | Promise<boolean>;
}

export interface ServiceWriteInput {
  /** A variable name (`DATABASE_URL`, kept as is) or a short name (`db` -> `DB_URL`). */
  readonly name: string;
  readonly options: Pick<ConfigOptions, 'root' | 'procfile' | 'envName'>;
  /** The developer's own layer (`.env.local`, `.env.NAME.local`) rather than the shared one. */
  readonly local?: boolean;
}

/** The env file a catalog write goes to: the layer `--env NAME` (and `--local`) names, in the app root. */
export function serviceFile(input: ServiceWriteInput, cwd: string): string {
  const { options } = input;
  const root =
    options.root !== undefined ? path.resolve(cwd, options.root) : options.procfile !== undefined ? path.dirname(path.resolve(cwd, options.procfile)) : cwd;
  const base = options.envName === undefined ? '.env' : `.env.${options.envName}`;
  return path.join(root, input.local === true ? `${base}.local` : base);
}

const shownFile = (file: string, cwd: string): string => {
  const relative = path.relative(cwd, file);
  return relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
};

function variableOf(name: string): string {
  const variable = serviceVarName(name);
  if (variable === undefined)
    throw usageError(`services: "${name}" is not a variable name`, 'use letters, digits and _, e.g. DATABASE_URL, or a short name like db (-> DB_URL)');
  return variable;
}

/**
 * `tf services add NAME [URL] [--env NAME] [--local]`. Without URL it is read from stdin or a
 * prompt, so that a password stays out of shell history and `ps`.
 */
export async function servicesAdd(input: ServiceWriteInput & { readonly url: string | undefined }, write: EnvWriter, context: ValueContext): Promise<number> {
  const variable = variableOf(input.name);
  const onArgv = input.url !== undefined;
  const url = input.url ?? (await readValue(context, variable, `tf services add ${input.name}`));
  const resource = describeUrl(url);
  // The value is not echoed: what failed to parse may be a credential typed in the wrong place.
  if (resource === undefined)
    throw usageError(
      `services add ${variable}: the value is not a URL with a host`,
      'give scheme://[user:password@]host[:port][/database], e.g. postgres://app@localhost:5432/app',
    );
  const file = serviceFile(input, context.cwd);
  await write.set(file, variable, url);
  const masked = maskValue(variable, url);
  const lines = [`${variable}=${masked} -> ${shownFile(file, context.cwd)} (${describeResource({ ...resource, secret: false })})`];
  // What tf masks (a password, a token) was on the command line, where shell history and ps keep it.
  if (onArgv && masked !== url)
    lines.push(
      `note: a credential in the URL was on the command line (shell history, ps); without URL, tf services add ${input.name} reads it from stdin or a prompt`,
    );
  if (context.env[variable] !== undefined)
    lines.push(`warning: ${variable} is also set in the shell environment, whose value wins over env files (--env-override lets the files win)`);
  context.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

/** `tf services remove NAME [--env NAME] [--local]`: exit 1 when that layer does not set it. */
export async function servicesRemove(input: ServiceWriteInput, write: EnvWriter, context: CommandContext): Promise<number> {
  const variable = variableOf(input.name);
  const file = serviceFile(input, context.cwd);
  if (!(await write.unset(file, variable))) {
    throw new TfError('envfile', `${variable} is not set here`, {
      file: shownFile(file, context.cwd),
      hint: 'tf env shows which file sets each variable; --env NAME and --local pick the layer',
    });
  }
  context.stdout.write(`${variable} removed from ${shownFile(file, context.cwd)}\n`);
  return 0;
}

/** `--wait` / `TF_WAIT`: `DATABASE_URL,REDIS_URL` (or short names) as a list. */
export const parseWaitList = (text: string): string[] =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

export const WAIT_TIMEOUT_MS = 30_000;

export interface WaitSettings extends ProbeSettings {
  /** `--wait-timeout`, default 30 s. */
  readonly timeoutMs?: number;
  readonly secret?: SecretTest;
  /** Called once per resource when its first attempt fails, e.g. to print "waiting for ...". */
  readonly onWaiting?: (label: string, error: string) => void;
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
}

/** Every `--wait` name as a probe target; a name that is unset or not a URL is an error before any waiting. */
export function waitTargets(env: Env, names: readonly string[], secret?: SecretTest): ProbeTarget[] {
  const resources = catalog(env, secret === undefined ? {} : { secret });
  return names.map((name) => {
    const found = resourceOf(resources, name);
    if (found !== undefined) return targetOf(found.resource, found.variable);
    const variable = env[name] !== undefined ? name : (serviceVarName(name) ?? name);
    const known = resources.flatMap((r) => r.vars.map((v) => v.name));
    const hint = known.length === 0 ? 'no variable here holds a URL with a host' : `variables holding service URLs: ${known.join(', ')}`;
    const value = env[variable];
    if (value === undefined) throw new TfError('option', `--wait ${name}: no variable ${variable} in the environment`, { hint });
    const reason = value.trim() === '' ? 'empty' : secret?.(variable) === true ? SECRET_REASON : (unreadableReason(value) ?? 'no host');
    throw new TfError('option', `--wait ${name}: the value of ${variable} is ${unreadableText(reason)}`, { hint });
  });
}

/**
 * Waits until every named resource accepts connections, all against one deadline; rejects
 * with the first TfError (masked URL, last error) and stops the other waits.
 */
export async function waitFor(env: Env, names: readonly string[], settings: WaitSettings = {}): Promise<void> {
  const targets = waitTargets(env, names, settings.secret);
  const stop = new AbortController();
  try {
    await Promise.all(
      targets.map((target) => {
        let told = false;
        return waitUntilUp(target, {
          timeoutMs: settings.timeoutMs ?? WAIT_TIMEOUT_MS,
          signal: stop.signal,
          ...(settings.lookup === undefined ? {} : { lookup: settings.lookup }),
          ...(settings.initialDelayMs === undefined ? {} : { initialDelayMs: settings.initialDelayMs }),
          ...(settings.maxDelayMs === undefined ? {} : { maxDelayMs: settings.maxDelayMs }),
          onRetry: (report) => {
            if (told || report.state.kind !== 'down') return;
            told = true;
            settings.onWaiting?.(target.label, report.state.error);
          },
        });
      }),
    );
  } finally {
    stop.abort();
  }
}

/** One line of the boot report: `tf start` shows it as a notice. */
export interface BootLine {
  readonly level: 'info' | 'warn';
  readonly text: string;
}

// Short: the report must arrive while the developer is still looking at the first lines.
const BOOT_TIMEOUT_MS = 1000;

/**
 * What `tf start` says about the backing services at boot: one line per resource (masked),
 * a warning for each that is down. Not awaited before spawning: start calls it, spawns, and
 * prints the lines when they arrive (apps must tolerate a resource that is not up yet). TCP
 * only: a boot does not send requests to APIs.
 */
export async function bootReport(
  env: Env,
  settings: ProbeSettings & {
    readonly secret?: SecretTest;
    readonly signal?: AbortSignal;
    /** The ports this start gives its instances, with their names: a URL there is the app itself. */
    readonly ownPorts?: ReadonlyMap<number, string>;
  } = {},
): Promise<BootLine[]> {
  const options = settings.secret === undefined ? {} : { secret: settings.secret };
  const all = catalog(env, options);
  // APP_URL=http://localhost:5000 names the web instance being started, not a backing service:
  // it is down at boot by design, so it is named, not probed.
  const ownLines = new Map<Resource, BootLine>();
  for (const resource of all) {
    const own = ownInstance(resource, settings.ownPorts);
    if (own !== undefined) ownLines.set(resource, { level: 'info', text: `${serviceLabel(resource)} is this app's ${own}` });
  }
  const resources = all.filter((r) => !ownLines.has(r));
  const reports = await probeAll(
    resources.map((r) => targetOf(r)),
    {
      timeoutMs: settings.timeoutMs ?? BOOT_TIMEOUT_MS,
      ...(settings.lookup === undefined ? {} : { lookup: settings.lookup }),
      ...(settings.signal === undefined ? {} : { signal: settings.signal }),
    },
  );
  const probed = new Map(
    resources.map((resource, i): [Resource, BootLine] => {
      const report = reports[i] as ProbeReport;
      if (report.state.kind === 'down') return [resource, { level: 'warn', text: `${serviceLabel(resource)} is down: ${report.state.error}; starting anyway` }];
      return [resource, { level: 'info', text: `${serviceLabel(resource)} ${stateText(report)}` }];
    }),
  );
  // As tf services lists them: the developer sees the variable their app may fail to read too.
  const unread = unreadable(env, options).map(
    (u): BootLine => ({ level: 'info', text: `service ${u.name} (${u.masked}) is ${unreadableText(u.reason)}; not probed` }),
  );
  return [...all.map((r) => (ownLines.get(r) ?? probed.get(r)) as BootLine), ...unread];
}

/** `service DATABASE_URL, DB_URL (postgres://app:*****@db/app)`: the names and the first value, masked. */
const serviceLabel = (resource: Resource): string => `service ${resource.vars.map((v) => v.name).join(', ')} (${resource.vars[0]?.masked ?? ''})`;

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|::1|\[::1\]|0\.0\.0\.0)$/;

/**
 * The instance a resource points at when each of its addresses is this machine, on a port of this
 * start. Never an encrypted one: "is this app's web.1" would say where it points.
 */
function ownInstance(resource: Resource, ownPorts: ReadonlyMap<number, string> | undefined): string | undefined {
  if (ownPorts === undefined || resource.addresses.length === 0 || resource.secret) return undefined;
  const names = resource.addresses.map((a) => (LOOPBACK.test(a.host) && a.port !== undefined ? ownPorts.get(a.port) : undefined));
  return names.every((n) => n !== undefined) ? [...new Set(names)].join(', ') : undefined;
}
