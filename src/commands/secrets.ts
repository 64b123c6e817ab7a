import { lstatSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { decryptAt, isEncrypted, loadSecretKeys, setCommand, type SecretKeys } from '../config/decrypt-env.js';
import { decryptDotenvx, isDotenvxValue, privateKeyName } from '../config/dotenvx.js';
import { readEnvText, setEnvValueInText, writeEnvValue, writeFileAtomic } from '../config/env-edit.js';
import { parseEnvFile, type EnvEntry } from '../config/env.js';
import {
  checkEnvName,
  DEFAULT_ENV,
  envNameOfFile,
  findEnvKeys,
  ignoreKeyDir,
  KEY_DIR_IGNORE,
  keyFileOf,
  keyVariable,
  readKeyFile,
  writeKeyFile,
  type EnvKeys,
} from '../config/keys.js';
import { decryptValue, encryptStable, encryptValue, generateKey, parseSecret, type SecretKey } from '../config/secrets.js';
import { TfError } from '../errors.js';
import type { CommandContext } from './context.js';
import { readValue, type ValueContext } from './read-value.js';

export type SecretsAction = 'init' | 'set' | 'get' | 'ls' | 'rotate';

/** `tf secrets ACTION [NAME] [--env NAME] [--local]`, already parsed. */
export interface SecretsInput {
  readonly action: SecretsAction;
  /** The variable, for `set` and `get`. */
  readonly name?: string | undefined;
  /** `--env NAME`; without it the environment is `default` (`.env`, `.env.local`). */
  readonly envName?: string | undefined;
  /** `--local`: `set` writes the developer's layer (`.env.local`, `.env.NAME.local`). */
  readonly local?: boolean;
  /** `-d/--root`: the app root, where env files and `.tf/keys/` live; the current directory by default. */
  readonly root?: string | undefined;
}

/** `set` reads the value from stdin: a terminal gets a prompt without echo. */
export type SecretsContext = ValueContext;

/** Progress of a rotation, in order; a step is reported once it is on disk. */
export type RotateStep =
  | { readonly kind: 'key-written'; readonly keyId: string }
  | { readonly kind: 'file-written'; readonly file: string; readonly values: number }
  | { readonly kind: 'old-keys-dropped'; readonly keyId: string };

export interface SecretsHooks {
  /** Called after each step of `rotate`; what tests use to cut a rotation short. */
  readonly onRotateStep?: (step: RotateStep) => void;
}

const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

interface Scope {
  readonly root: string;
  readonly cwd: string;
  readonly envName: string;
  readonly show: (file: string) => string;
}

/** The files whose values belong to `envName` (its own layers), base first. */
const ownFiles = (envName: string): string[] => (envName === DEFAULT_ENV ? ['.env', '.env.local'] : [`.env.${envName}`, `.env.${envName}.local`]);

/** The files a process of `envName` reads, in layering order (as `--env` layers them). */
const layeredFiles = (envName: string): string[] => (envName === DEFAULT_ENV ? ownFiles(envName) : [...ownFiles(DEFAULT_ENV), ...ownFiles(envName)]);

/** Every env file in the root, for `ls` without `--env`. */
function allEnvFiles(root: string): string[] {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  // A link to a missing file is kept: reading it says so, where leaving it out would say "no encrypted values".
  const isFile = (name: string): boolean => {
    try {
      return statSync(path.join(root, name)).isFile();
    } catch {
      try {
        return lstatSync(path.join(root, name)).isSymbolicLink();
      } catch {
        return false;
      }
    }
  };
  const rank = (name: string): string => `${envNameOfFile(name) === DEFAULT_ENV ? '0' : '1'}${name}`;
  return names.filter((n) => (n === '.env' || n.startsWith('.env.')) && n !== '.env.keys' && isFile(n)).sort((a, b) => rank(a).localeCompare(rank(b)));
}

interface FileEntries {
  readonly file: string;
  readonly shown: string;
  readonly text: string;
  readonly entries: readonly EnvEntry[];
}

function readEntries(scope: Scope, name: string): FileEntries | undefined {
  const file = path.join(scope.root, name);
  const shown = scope.show(file);
  const text = readEnvText(file, shown);
  if (text === undefined) return undefined;
  return { file, shown, text, entries: parseEnvFile({ file: shown, text }).entries };
}

function requireName(input: SecretsInput): string {
  const name = input.name;
  if (name === undefined || name === '')
    throw new TfError('usage', `tf secrets ${input.action} needs the variable's name`, { hint: `tf secrets ${input.action} NAME [--env ENV]` });
  // Not echoed: `NAME=value` would print the value someone tried to pass on the command line.
  if (name.includes('='))
    throw new TfError('usage', `tf secrets ${input.action} takes the variable's name only`, {
      hint: 'the value comes from stdin or a prompt, never from the command line',
    });
  if (!SHELL_NAME.test(name))
    throw new TfError('usage', `"${name}" is not a variable name`, { hint: 'use letters, digits and "_", not starting with a digit' });
  return name;
}

function requireKey(keys: EnvKeys, scope: Scope): SecretKey {
  if (keys.current === undefined) {
    const flag = scope.envName === DEFAULT_ENV ? '' : ` --env ${scope.envName}`;
    throw new TfError('usage', `environment "${scope.envName}" has no key on this machine`, {
      hint: `run tf secrets init${flag} to make one, or set ${keyVariable(scope.envName)} / save the team's key in ${scope.show(keyFileOf(scope.root, scope.envName))}`,
      exitCode: 1,
    });
  }
  return keys.current.key;
}

async function init(scope: Scope, context: SecretsContext): Promise<number> {
  const out = (line: string): boolean => context.stdout.write(`${line}\n`);
  const keys = findEnvKeys(scope.root, context.env, scope.envName, scope.cwd);
  const file = keyFileOf(scope.root, scope.envName);
  const ignored = ignoreKeyDir(scope.root);
  if (ignored) out(`added ${KEY_DIR_IGNORE} to ${scope.show(path.join(scope.root, '.gitignore'))}`);
  if (keys.current !== undefined) {
    const where = keys.current.source.kind === 'file' ? scope.show(file) : keys.current.source.variable;
    out(`environment "${scope.envName}" already has key ${keys.current.key.id} (${where}); nothing to do`);
    return 0;
  }
  // A new key cannot open what is there: refuse rather than strand those values.
  for (const name of ownFiles(scope.envName)) {
    const found = readEntries(scope, name);
    const sealed = found?.entries.find((e) => parseSecret(e.raw).kind === 'ok');
    const parsed = sealed === undefined ? undefined : parseSecret(sealed.raw);
    if (found !== undefined && sealed !== undefined && parsed?.kind === 'ok') {
      throw new TfError('usage', `${sealed.key} is already encrypted with key ${parsed.keyId}, which a new key could not open`, {
        file: found.shown,
        line: sealed.line,
        hint: `get key ${parsed.keyId} from your team and save it in ${scope.show(file)} (or set ${keyVariable(scope.envName)})`,
        exitCode: 1,
      });
    }
  }
  const key = generateKey();
  writeKeyFile(scope.root, scope.envName, [key]);
  out(`created key ${key.id} for environment "${scope.envName}" in ${scope.show(file)} (mode 0600, ignored by git)`);
  out(`share that file with whoever may read the secrets; for CI, set ${keyVariable(scope.envName)} to its key line`);
  return 0;
}

async function set(scope: Scope, input: SecretsInput, context: SecretsContext): Promise<number> {
  const name = requireName(input);
  const keys = findEnvKeys(scope.root, context.env, scope.envName, scope.cwd);
  const key = requireKey(keys, scope);
  const [base, local] = ownFiles(scope.envName) as [string, string];
  const target = path.join(scope.root, input.local === true ? local : base);
  const shown = scope.show(target);
  // Read the file first, so a bad file fails before anyone types a secret.
  const existing = readEnvText(target, shown);
  const entries = existing === undefined ? [] : parseEnvFile({ file: shown, text: existing }).entries.filter((e) => e.key === name);
  const plaintext = await readValue(context, name, `tf secrets set ${name}`);
  const previous = entries[entries.length - 1]?.raw;
  const token = encryptStable(plaintext, key, { envName: scope.envName, name }, previous);
  writeEnvValue(target, name, token, shown);
  context.stdout.write(
    token === previous ? `${name} in ${shown} already holds that value; unchanged\n` : `set ${name} in ${shown}, encrypted with key ${key.id}\n`,
  );
  return 0;
}

async function get(scope: Scope, input: SecretsInput, context: SecretsContext): Promise<number> {
  const name = requireName(input);
  const files = layeredFiles(scope.envName);
  let found: { file: FileEntries; entry: EnvEntry } | undefined;
  for (const file of files) {
    const read = readEntries(scope, file);
    const entry = read?.entries.filter((e) => e.key === name).pop();
    if (read !== undefined && entry !== undefined) found = { file: read, entry };
  }
  if (found === undefined)
    throw new TfError('usage', `${name} is not set in ${files.join(', ')}`, {
      hint: `set it with tf secrets set ${name}${scope.envName === DEFAULT_ENV ? '' : ` --env ${scope.envName}`}`,
      exitCode: 1,
    });
  const { file, entry } = found;
  if (!isEncrypted(entry.raw)) {
    throw new TfError('usage', `${name} is not encrypted; tf secrets get prints only encrypted values`, {
      file: file.shown,
      line: entry.line,
      hint: `encrypt it with ${setCommand(name, file.file)}, or read the file`,
      exitCode: 1,
    });
  }
  const keys = loadSecretKeys(scope.root, context.env, scope.cwd);
  const plaintext = decryptAt(entry.raw, { file: file.shown, line: entry.line, name, siblings: file.entries.map((e) => e.key) }, keys);
  context.stdout.write(`${plaintext}\n`);
  return 0;
}

/** What `ls` says about one encrypted value: which key, and whether this machine can open it. */
function status(entry: EnvEntry, file: FileEntries, keys: SecretKeys): { key: string; state: string } {
  if (isDotenvxValue(entry.raw)) {
    const result = decryptDotenvx(entry.raw, file.file, keys.dotenvx());
    const state = result.kind === 'ok' ? 'can decrypt' : result.kind === 'no-key' ? 'no key here' : 'does not decrypt';
    return { key: `dotenvx ${privateKeyName(file.file)}`, state };
  }
  const parsed = parseSecret(entry.raw);
  if (parsed.kind === 'malformed') return { key: 'tf ?', state: 'damaged' };
  const envName = envNameOfFile(file.file);
  const envKeys = keys.keyring.forEnv(envName);
  const key = envKeys.all.find((k) => k.key.id === parsed.keyId);
  const label = `tf ${parsed.keyId}`;
  if (key === undefined) return { key: label, state: envKeys.all.length === 0 ? 'no key here' : `no key ${parsed.keyId} here` };
  const ok = decryptValue(entry.raw, key.key, { envName, name: entry.key }).kind === 'ok';
  return { key: label, state: ok ? 'can decrypt' : 'does not decrypt (moved, copied or altered)' };
}

async function ls(scope: Scope, input: SecretsInput, context: SecretsContext): Promise<number> {
  const names = input.envName === undefined ? allEnvFiles(scope.root) : layeredFiles(scope.envName);
  const keys = loadSecretKeys(scope.root, context.env, scope.cwd);
  const rows: string[][] = [];
  for (const name of names) {
    const file = readEntries(scope, name);
    if (file === undefined) continue;
    for (const entry of file.entries) {
      if (!isEncrypted(entry.raw)) continue;
      const { key, state } = status(entry, file, keys);
      rows.push([entry.key, `${file.shown}:${entry.line}`, envNameOfFile(name), key, state]);
    }
  }
  if (rows.length === 0) {
    context.stdout.write(`no encrypted values in ${names.length === 0 ? 'any env file' : names.join(', ')}\n`);
    return 0;
  }
  const table = [['NAME', 'FILE', 'ENV', 'KEY', 'HERE'], ...rows];
  const widths = table[0]?.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length))) ?? [];
  context.stdout.write(`${table.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n')}\n`);
  return 0;
}

/**
 * Rotation, crash-safe: (1) the new key goes on disk first, in front of the old ones; (2) each
 * file is re-encrypted and replaced atomically, values already under the new key kept byte for
 * byte; (3) only then are the old keys dropped. A key file with more than one key is a rotation
 * cut short: running `rotate` again finishes it with the key it had started, no new one.
 */
async function rotate(scope: Scope, context: SecretsContext, hooks: SecretsHooks): Promise<number> {
  const out = (line: string): boolean => context.stdout.write(`${line}\n`);
  const keys = findEnvKeys(scope.root, context.env, scope.envName, scope.cwd);
  requireKey(keys, scope);
  const keyFile = keyFileOf(scope.root, scope.envName);
  let current: SecretKey;
  if (keys.rotating) {
    current = (readKeyFile(keyFile, scope.show(keyFile)) ?? [])[0] as SecretKey;
    out(`finishing the rotation to key ${current.id} that was cut short`);
  } else {
    current = generateKey();
    writeKeyFile(scope.root, scope.envName, [current, ...keys.all.map((k) => k.key)]);
    hooks.onRotateStep?.({ kind: 'key-written', keyId: current.id });
  }
  const secretKeys = loadSecretKeys(scope.root, context.env, scope.cwd);
  let total = 0;
  let dotenvx = 0;
  for (const name of ownFiles(scope.envName)) {
    const file = readEntries(scope, name);
    if (file === undefined) continue;
    let text = file.text;
    let count = 0;
    const siblings = file.entries.map((e) => e.key);
    const last = new Map(file.entries.map((e) => [e.key, e]));
    for (const entry of last.values()) {
      if (isDotenvxValue(entry.raw)) dotenvx++;
      const parsed = parseSecret(entry.raw);
      if (parsed.kind !== 'ok' || parsed.keyId === current.id) continue;
      const plaintext = decryptAt(entry.raw, { file: file.shown, line: entry.line, name: entry.key, siblings }, secretKeys);
      text = setEnvValueInText(text, entry.key, encryptValue(plaintext, current, { envName: scope.envName, name: entry.key }));
      count++;
    }
    if (count > 0) {
      writeFileAtomic(file.file, text);
      out(`re-encrypted ${count} value${count === 1 ? '' : 's'} in ${file.shown}`);
      hooks.onRotateStep?.({ kind: 'file-written', file: file.shown, values: count });
    }
    total += count;
  }
  writeKeyFile(scope.root, scope.envName, [current]);
  hooks.onRotateStep?.({ kind: 'old-keys-dropped', keyId: current.id });
  out(`environment "${scope.envName}" now uses key ${current.id} (${scope.show(keyFile)}); ${total} value${total === 1 ? '' : 's'} re-encrypted`);
  if (dotenvx > 0) out(`${dotenvx} dotenvx value${dotenvx === 1 ? ' was left as it is' : 's were left as they are'}: rotate those with dotenvx`);
  out(`next: give the new key file to the team and set ${keyVariable(scope.envName)} in CI to its key line`);
  out('rotation stops the old key opening these files; whoever read the secrets still knows them: change the secrets themselves at their source');
  return 0;
}

const ACTIONS: readonly SecretsAction[] = ['init', 'set', 'get', 'ls', 'rotate'];

/** The input for `tf secrets WORDS...` from the words after `secrets` and the parsed options. */
export function secretsInput(words: readonly string[], options: { envName?: string | undefined; local?: boolean; root?: string | undefined }): SecretsInput {
  const [action, ...operands] = words;
  if (action === undefined || !(ACTIONS as readonly string[]).includes(action)) {
    throw new TfError('usage', action === undefined ? 'tf secrets needs an action' : `unknown action "secrets ${action}"`, {
      hint: `actions are: ${ACTIONS.join(', ')}`,
    });
  }
  const takesName = action === 'set' || action === 'get';
  if (operands.length !== (takesName ? 1 : 0)) {
    const hint = takesName
      ? `write tf secrets ${action} NAME; the value comes from stdin or a prompt, never the command line`
      : `write tf secrets ${action} [--env NAME]`;
    throw new TfError('usage', `tf secrets ${action} takes ${takesName ? 'one variable name' : 'no operands'}`, { hint });
  }
  if (options.local === true && action !== 'set') throw new TfError('usage', '--local is an option of tf secrets set only', { hint: 'drop --local' });
  return { action: action as SecretsAction, name: operands[0], envName: options.envName, local: options.local === true, root: options.root };
}

/** `tf secrets init|set|get|ls|rotate`. Only `get` prints a secret value, for scripts. */
export async function secrets(input: SecretsInput, context: SecretsContext, hooks: SecretsHooks = {}): Promise<number> {
  const envName = input.envName ?? DEFAULT_ENV;
  checkEnvName(envName);
  const root = path.resolve(context.cwd, input.root ?? '.');
  const show = (file: string): string => {
    const relative = path.relative(context.cwd, file);
    return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
  };
  const scope: Scope = { root, cwd: context.cwd, envName, show };
  switch (input.action) {
    case 'init':
      return init(scope, context);
    case 'set':
      return set(scope, input, context);
    case 'get':
      return get(scope, input, context);
    case 'ls':
      return ls(scope, input, context);
    case 'rotate':
      return rotate(scope, context, hooks);
  }
}

/**
 * `tf env set --secret`'s encryption: the value under the current key of the environment the
 * file belongs to (`.env`, `.env.local`: default; `.env.NAME*`: NAME), bound to its name.
 */
export function encryptForFile(
  root: string,
  context: CommandContext,
): (request: { readonly key: string; readonly value: string; readonly file: string; readonly previous?: string | undefined }) => string {
  return ({ key, value, file, previous }) => {
    const envName = envNameOfFile(file);
    const scope: Scope = { root, cwd: context.cwd, envName, show: (f) => path.relative(context.cwd, f) || f };
    const current = requireKey(findEnvKeys(root, context.env, envName, context.cwd), scope);
    // The same value keeps its ciphertext, as with tf secrets set: a diff shows only what changed.
    return encryptStable(value, current, { envName, name: key }, previous);
  };
}
