import path from 'node:path';
import { isEncrypted } from '../config/decrypt-env.js';
import { parseEnvFile, type EnvEntry } from '../config/env.js';
import { newEnvFileMode } from '../config/env-edit.js';
import { editEnvFile, SHELL_NAME, type EditOutcome, type EnvEdit, type LockOptions } from '../config/env-write.js';
import { loadConfig, type ConfigOptions } from '../config/load.js';
import { maskValue } from '../config/mask.js';
import { decodeConfigText, readConfigFile } from '../config/read.js';
import type { Config, Env, EnvOrigin } from '../domain.js';
import { TfError, usageError } from '../errors.js';
import { MARKER_NAME } from '../host/process-table.js';
import { buildPlan, runEnv } from '../plan/plan.js';
import { type CommandContext, writeWarnings } from './context.js';

/** Where a value a process gets comes from: an env file's line, the shell, or tf itself. */
export type EnvSource = EnvOrigin | { readonly kind: 'tf'; readonly reason: string };

export interface EnvRow {
  readonly key: string;
  /** undefined for a value tf makes up per run (the run marker). */
  readonly value: string | undefined;
  /** The value as printed: masked unless --reveal. */
  readonly shown: string;
  readonly source: EnvSource;
  /** The definitions this value replaced, the nearest first. */
  readonly overrides: readonly EnvSource[];
}

/**
 * Turns a value into ciphertext for an env file; the secrets module provides it
 * (`encryptForFile`). `environment` is the --env name (undefined: the default environment).
 */
export type EncryptValue = (request: {
  readonly key: string;
  readonly value: string;
  readonly environment: string | undefined;
  readonly file: string;
  /** The raw value the file holds now: the same plaintext keeps its ciphertext. */
  readonly previous?: string | undefined;
}) => string;

/** What other modules plug in; absent until they land. */
export interface EnvHooks {
  readonly encrypt?: EncryptValue;
  readonly lock?: LockOptions;
}

/** `tf env` as the command line gives it. */
export interface EnvInvocation {
  readonly options: ConfigOptions;
  /** `[TYPE]`, `get KEY`, `set KEY=VALUE...` or `unset KEY...`. */
  readonly rest: readonly string[];
  readonly json: boolean;
  readonly reveal: boolean;
  readonly local: boolean;
  readonly secret: boolean;
}

const SUBCOMMANDS = ['get', 'set', 'unset'] as const;

/** `tf env ...`: dispatches on the first word; get, set and unset are always subcommands, never process types. */
export async function env(invocation: EnvInvocation, context: CommandContext, hooks: EnvHooks = {}): Promise<number> {
  const [first, ...operands] = invocation.rest;
  const sub = (SUBCOMMANDS as readonly string[]).includes(first ?? '') ? (first as (typeof SUBCOMMANDS)[number]) : undefined;
  const only = (flag: string, allowed: boolean, where: string): void => {
    if (!allowed) throw usageError(`${flag} is not an option of "tf env${sub === undefined ? '' : ` ${sub}`}"`, `it is for ${where}`);
  };
  only('--reveal', !invocation.reveal || sub === undefined, '"tf env [TYPE]"');
  only('--json', !invocation.json || sub === undefined, '"tf env [TYPE]"');
  only('--local', !invocation.local || sub === 'set' || sub === 'unset', '"tf env set" and "tf env unset"');
  only('--secret', !invocation.secret || sub === 'set', '"tf env set"');
  switch (sub) {
    case 'get': {
      if (operands.length !== 1) throw usageError('tf env get needs exactly one KEY', 'e.g. "tf env get DATABASE_URL"');
      return envGet({ options: invocation.options, key: operands[0] ?? '' }, context);
    }
    case 'set':
      return envSet({ options: invocation.options, assignments: operands, local: invocation.local, secret: invocation.secret }, context, hooks);
    case 'unset':
      return envUnset({ options: invocation.options, keys: operands, local: invocation.local }, context, hooks);
    default: {
      if (invocation.rest.length > 1)
        throw usageError(`tf env takes at most one process type, got ${invocation.rest.length} words`, 'e.g. "tf env web"; subcommands are get, set and unset');
      return envShow({ options: invocation.options, type: first, json: invocation.json, reveal: invocation.reveal }, context);
    }
  }
}

// ---- tf env [TYPE] ----

export interface EnvShowRequest {
  readonly options: ConfigOptions;
  readonly type: string | undefined;
  readonly json: boolean;
  readonly reveal: boolean;
}

const describeSource = (source: EnvSource): string =>
  source.kind === 'file' ? `${source.file}:${source.line}` : source.kind === 'shell' ? 'shell' : `tf (${source.reason})`;

/** What a key's value, as config resolved it, replaced: earlier file lines, and the shell when a file won over it. */
function configChain(config: Config, shell: Env, key: string): { source: EnvSource; overrides: EnvSource[] } | undefined {
  const origin = config.envOrigins.get(key);
  if (origin === undefined) return undefined;
  const definitions = [...(config.envDefinitions?.get(key) ?? [])].reverse();
  if (origin.kind === 'shell') return { source: origin, overrides: definitions };
  const overrides: EnvSource[] = definitions.slice(1);
  if (shell[key] !== undefined) overrides.push({ kind: 'shell' });
  return { source: origin, overrides };
}

/**
 * Every variable the process gets, in the order a reader wants them: what the env files and
 * tf set first (the app's config), then what comes from the shell alone; by name within each.
 */
export function envRows(config: Config, shell: Env, type: string | undefined, mask: (key: string, value: string) => string): EnvRow[] {
  let processEnv: Env;
  let colourOnly: ReadonlySet<string> = new Set();
  const tfReasons = new Map<string, string>();
  if (type === undefined) {
    processEnv = runEnv(config, undefined);
  } else {
    const instance = buildPlan(config, { childColor: false }).instances.find((i) => i.type === type && i.number === 1);
    const coloured = buildPlan(config, { childColor: true }).instances.find((i) => i.type === type && i.number === 1);
    if (instance === undefined || coloured === undefined) throw new TfError('internal', `no instance of ${type} in the plan`);
    processEnv = coloured.env;
    colourOnly = new Set(Object.keys(coloured.env).filter((k) => instance.env[k] === undefined));
    tfReasons.set('PORT', `${instance.name}'s port`);
    tfReasons.set('PS', 'instance name');
  }
  const rows: EnvRow[] = [];
  for (const [key, value] of Object.entries(processEnv)) {
    const chain = configChain(config, shell, key);
    const reason =
      tfReasons.get(key) ?? (config.env[key] === undefined ? (colourOnly.has(key) ? 'when tf start writes to a colour terminal' : 'default') : undefined);
    if (reason !== undefined) {
      rows.push({
        key,
        value,
        shown: mask(key, value),
        source: { kind: 'tf', reason },
        overrides: chain === undefined ? [] : [chain.source, ...chain.overrides],
      });
    } else if (chain !== undefined) {
      rows.push({ key, value, shown: mask(key, value), ...chain });
    }
  }
  rows.push({
    key: MARKER_NAME,
    value: undefined,
    shown: '(unique to each run)',
    source: { kind: 'tf', reason: 'marks the processes of one tf run' },
    overrides: [],
  });
  const shellOnly = (row: EnvRow): boolean => row.source.kind === 'shell' && row.overrides.length === 0;
  return rows.sort((a, b) => Number(shellOnly(a)) - Number(shellOnly(b)) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** A value on one line: control characters, surrounding blanks and the empty value shown JSON-quoted. */
const isControl = (char: string): boolean => char.charCodeAt(0) < 0x20 || char === '\x7f';
const printable = (value: string): string => (value === '' || /^\s|\s$/.test(value) || [...value].some(isControl) ? JSON.stringify(value) : value);

function table(rows: readonly EnvRow[]): string {
  const cells = rows.map((row) => [
    row.key,
    row.value === undefined ? row.shown : printable(row.shown),
    describeSource(row.source) + (row.overrides.length === 0 ? '' : ` (overrides ${row.overrides.map(describeSource).join(', ')})`),
  ]);
  const header = ['KEY', 'VALUE', 'SOURCE'];
  // A long value does not push every other row's source off the screen.
  const widths = [0, 1].map((column) => Math.min(column === 0 ? 40 : 48, Math.max(header[column]?.length ?? 0, ...cells.map((c) => c[column]?.length ?? 0))));
  const line = (c: readonly string[]): string => `${(c[0] ?? '').padEnd(widths[0] ?? 0)}  ${(c[1] ?? '').padEnd(widths[1] ?? 0)}  ${c[2] ?? ''}`;
  return `${[header, ...cells].map(line).join('\n')}\n`;
}

/** `tf env [TYPE]`: every variable a process gets, where it came from and what it replaced, masked unless --reveal. */
export async function envShow(request: EnvShowRequest, context: CommandContext): Promise<number> {
  const { type } = request;
  const config =
    type === undefined
      ? loadConfig({ options: request.options, procfileOptional: true }, { cwd: context.cwd, shellEnv: context.env })
      : // One instance of the type, whatever the formation says: its first PORT is the same either way.
        loadConfig({ options: { ...request.options, formation: undefined }, only: [type] }, { cwd: context.cwd, shellEnv: context.env });
  // A value encrypted in its file is masked whole, whatever its name: the name may say nothing of a secret.
  const mask = (key: string, value: string): string => (request.reveal ? value : maskValue(key, value, { secret: config.secretKeys.has(key) }));
  const rows = envRows(config, context.env, type, mask);
  writeWarnings(context.stderr, config.warnings);
  if (request.json) {
    const document = {
      environment: request.options.envName ?? null,
      type: type ?? null,
      instance: type === undefined ? null : `${type}.1`,
      envFiles: config.envFiles,
      revealed: request.reveal,
      variables: rows.map((row) => ({ key: row.key, value: row.value === undefined ? null : row.shown, source: row.source, overrides: row.overrides })),
    };
    context.stdout.write(`${JSON.stringify(document)}\n`);
  } else {
    context.stdout.write(table(rows));
  }
  return 0;
}

// ---- tf env get KEY ----

export interface EnvGetRequest {
  readonly options: ConfigOptions;
  readonly key: string;
}

function checkKey(key: string): void {
  if (!SHELL_NAME.test(key)) {
    throw usageError(`${JSON.stringify(key)} is not a variable name`, 'use letters, digits and "_", not starting with a digit, e.g. DATABASE_URL');
  }
}

/** `tf env get KEY`: the raw value a `tf run` command gets, for scripts; exit 1 when it has none. */
export function envGet(request: EnvGetRequest, context: CommandContext): number {
  checkKey(request.key);
  const config = loadConfig({ options: request.options, procfileOptional: true }, { cwd: context.cwd, shellEnv: context.env });
  const value = runEnv(config, undefined)[request.key];
  if (value === undefined) {
    const read = config.envFiles.length === 0 ? 'no env file' : config.envFiles.join(', ');
    throw new TfError('envfile', `${request.key} is not set (read: ${read}, and the shell)`, { hint: `set it with "tf env set ${request.key}=VALUE"` });
  }
  // The plaintext of a secret is printed by one command only, the one whose name says so.
  if (config.secretKeys.has(request.key)) {
    const envFlag = request.options.envName === undefined ? '' : ` --env ${request.options.envName}`;
    throw new TfError('envfile', `${request.key} is secret (encrypted, or built on an encrypted value), so tf env get does not print it`, {
      hint: `tf secrets get NAME${envFlag} prints an encrypted value's plaintext, tf env --reveal${envFlag} every value`,
    });
  }
  context.stdout.write(`${value}\n`);
  return 0;
}

// ---- tf env set / unset ----

export interface EnvSetRequest {
  readonly options: ConfigOptions;
  /** `KEY=VALUE` words. */
  readonly assignments: readonly string[];
  readonly local: boolean;
  readonly secret: boolean;
}

export interface EnvUnsetRequest {
  readonly options: ConfigOptions;
  readonly keys: readonly string[];
  readonly local: boolean;
}

/** The file a write goes to, and the files of the same environment read after it (which win over it). */
interface Layer {
  readonly path: string;
  readonly shown: string;
  readonly later: readonly { readonly path: string; readonly shown: string }[];
}

/** The app root as config finds it: --root, else the Procfile's directory, else here. */
function appRoot(options: ConfigOptions, cwd: string): string {
  if (options.root !== undefined) return path.resolve(cwd, options.root);
  if (options.procfile !== undefined) return path.dirname(path.resolve(cwd, options.procfile));
  return cwd;
}

function layerFor(options: ConfigOptions, cwd: string, local: boolean): Layer {
  if (options.envFiles.length > 0)
    throw usageError('tf env set and unset write the .env layers, not a file given with -e/--env-file', 'pick the layer with --env NAME and --local');
  const name = options.envName;
  if (name === 'local') throw usageError('"local" is not an environment name: .env.local is the developer layer', 'use --local to write it');
  const root = appRoot(options, cwd);
  // The order load.ts layers them in: later files win.
  const stack = name === undefined ? ['.env', '.env.local'] : ['.env', '.env.local', `.env.${name}`, `.env.${name}.local`];
  const base = name === undefined ? '.env' : `.env.${name}`;
  const file = local ? `${base}.local` : base;
  const shown = (f: string): string => {
    const relative = path.relative(cwd, path.join(root, f));
    return relative.startsWith('..') || path.isAbsolute(relative) ? path.join(root, f) : relative;
  };
  const index = stack.indexOf(file);
  return {
    path: path.join(root, file),
    shown: shown(file),
    later: index === -1 ? [] : stack.slice(index + 1).map((f) => ({ path: path.join(root, f), shown: shown(f) })),
  };
}

/** The last assignment of `key` in an env file, or undefined when the file or the key is not there. */
function lastAssignment(file: { readonly path: string; readonly shown: string }, key: string): EnvEntry | undefined {
  const configFile = { path: file.path, shown: file.shown, kind: 'envfile' as const, hint: 'fix or remove the file' };
  const bytes = readConfigFile(configFile);
  if (bytes === undefined) return undefined;
  return parseEnvFile({ file: file.shown, text: decodeConfigText(bytes, configFile) })
    .entries.filter((e) => e.key === key)
    .at(-1);
}

/** Where a later layer assigns `key` (its last assignment there), so a write that will not win says so. */
function laterDefinition(layer: Layer, key: string): string | undefined {
  let found: string | undefined;
  for (const file of layer.later) {
    const entry = lastAssignment(file, key);
    if (entry !== undefined) found = `${file.shown}:${entry.line}`;
  }
  return found;
}

/** A plain `tf env set` over an encrypted value would put a secret's successor in the file in clear: refused. */
function refuseDecrypting(layer: Layer, keys: readonly string[]): void {
  for (const key of keys) {
    const entry = lastAssignment(layer, key);
    if (entry === undefined || !isEncrypted(entry.raw)) continue;
    throw new TfError('envfile', `${key} is encrypted here; tf env set without --secret would store its new value in plain text`, {
      file: layer.shown,
      line: entry.line,
      hint: `add --secret to keep it encrypted, or "tf env unset ${key}" first to store it in plain text`,
    });
  }
}

function parseAssignment(word: string, index: number): { key: string; value: string } {
  const eq = word.indexOf('=');
  // Never echoed: a word without "=" may well be the value itself.
  if (eq === -1)
    throw usageError(
      `argument ${index + 1} of tf env set is not KEY=VALUE`,
      'write KEY=VALUE, e.g. tf env set PORT=5000; quote values with spaces for your shell',
    );
  const key = word.slice(0, eq);
  checkKey(key);
  return { key, value: word.slice(eq + 1) };
}

function report(layer: Layer, outcomes: readonly EditOutcome[], options: ConfigOptions, context: CommandContext): void {
  const out: string[] = [];
  const notes: string[] = [];
  for (const outcome of outcomes) {
    switch (outcome.kind) {
      case 'added':
        out.push(`added ${outcome.key} to ${layer.shown}:${outcome.line}`);
        break;
      case 'replaced':
        out.push(`set ${outcome.key} in ${layer.shown}:${outcome.line}`);
        if (outcome.earlier.length > 0) {
          notes.push(
            `${outcome.key} is assigned ${outcome.earlier.length + 1} times in ${layer.shown} (lines ${[...outcome.earlier, outcome.line].join(', ')}): edited line ${outcome.line}, the one that wins`,
          );
        }
        break;
      case 'removed':
        out.push(`removed ${outcome.key} from ${layer.shown} (line${outcome.lines.length === 1 ? '' : 's'} ${outcome.lines.join(', ')})`);
        break;
      case 'absent':
        out.push(`${outcome.key} is not in ${layer.shown}: nothing removed`);
        break;
    }
    if (outcome.kind === 'absent' || outcome.kind === 'removed') {
      const later = laterDefinition(layer, outcome.key);
      if (later !== undefined) notes.push(`${outcome.key} is still set by ${later}`);
      continue;
    }
    const later = laterDefinition(layer, outcome.key);
    if (later !== undefined) notes.push(`${later} sets ${outcome.key} too, and wins over ${layer.shown}`);
    if (context.env[outcome.key] !== undefined && !options.envOverride) {
      notes.push(`the shell's ${outcome.key} wins over env files; unset it in the shell, or pass --env-override`);
    }
  }
  context.stdout.write(out.map((l) => `${l}\n`).join(''));
  context.stderr.write(notes.map((l) => `note: ${l}\n`).join(''));
}

/**
 * `tf env set KEY=VALUE...`: writes `.env`, `.env.NAME`, or with --local the developer's
 * `.env.local` / `.env.NAME.local`. Values are never printed; --secret stores ciphertext.
 */
export async function envSet(request: EnvSetRequest, context: CommandContext, hooks: EnvHooks = {}): Promise<number> {
  if (request.assignments.length === 0) throw usageError('tf env set needs KEY=VALUE', 'e.g. tf env set PORT=5000 LOG_LEVEL=debug');
  const pairs = request.assignments.map(parseAssignment);
  if (request.secret && hooks.encrypt === undefined) {
    throw new TfError('unsupported', '--secret needs encrypted secrets, which this build does not have yet', {
      hint: 'set the value without --secret, or keep it out of the files',
    });
  }
  const layer = layerFor(request.options, context.cwd, request.local);
  if (!request.secret)
    refuseDecrypting(
      layer,
      pairs.map((p) => p.key),
    );
  const edits: EnvEdit[] = pairs.map(({ key, value }) => ({
    kind: 'set',
    key,
    value:
      request.secret && hooks.encrypt !== undefined
        ? hooks.encrypt({ key, value, environment: request.options.envName, file: layer.shown, previous: lastAssignment(layer, key)?.raw })
        : value,
  }));
  const result = await editEnvFile({ path: layer.path, shown: layer.shown, newMode: newEnvFileMode(layer.path) }, edits, hooks.lock);
  report(layer, result.outcomes, request.options, context);
  return 0;
}

/** `tf env unset KEY...`: removes every assignment of each key from the layer; a key that is not there is reported, not an error. */
export async function envUnset(request: EnvUnsetRequest, context: CommandContext, hooks: EnvHooks = {}): Promise<number> {
  if (request.keys.length === 0) throw usageError('tf env unset needs a KEY', 'e.g. tf env unset LOG_LEVEL');
  for (const key of request.keys) checkKey(key);
  const layer = layerFor(request.options, context.cwd, request.local);
  const result = await editEnvFile(
    { path: layer.path, shown: layer.shown, newMode: 0o644 },
    request.keys.map((key) => ({ kind: 'unset', key })),
    hooks.lock,
  );
  report(layer, result.outcomes, request.options, context);
  return 0;
}
