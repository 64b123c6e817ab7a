import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Env } from '../domain.js';
import { TfError } from '../errors.js';
import { readEnvText, writeFileAtomic } from './env-edit.js';
import { decodeConfigText, readConfigFile } from './read.js';
import { KEY_BYTES, makeKey, type SecretKey } from './secrets.js';

/**
 * Where tf keeps secret keys: one random 256-bit key per environment, in `TF_KEY_<ENV>` (CI)
 * or in `.tf/keys/<env>.key` under the app root (a developer's machine, mode 0600, ignored by
 * git). Values in `.env` and `.env.local` belong to the environment named `default`; values
 * in `.env.NAME` and `.env.NAME.local` to NAME.
 */
export const DEFAULT_ENV = 'default';
export const KEY_DIR = path.join('.tf', 'keys');
/** The .gitignore line `tf secrets init` adds. */
export const KEY_DIR_IGNORE = '/.tf/keys/';
const ENV_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** `TF_KEY_<ENV>`: the name upper-cased, every character other than a letter or digit as `_`. */
export const keyVariable = (envName: string): string => `TF_KEY_${envName.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;

export const keyFileOf = (root: string, envName: string): string => path.join(root, KEY_DIR, `${envName}.key`);

/** The environment an env file's values belong to, from its name. */
export function envNameOfFile(file: string): string {
  const match = /^\.env\.(.+?)(?:\.local)?$/.exec(path.basename(file));
  return match?.[1] === undefined || match[1] === 'local' ? DEFAULT_ENV : match[1];
}

export function checkEnvName(envName: string): void {
  if (!ENV_NAME.test(envName) || envName === 'local' || envName === 'keys') {
    throw new TfError('usage', `"${envName}" cannot name an environment`, { hint: 'use letters, digits, ".", "_" and "-" (not "local" or "keys")' });
  }
}

/** Where a key came from, to tell the user. */
export type KeySource = { readonly kind: 'variable'; readonly variable: string } | { readonly kind: 'file'; readonly file: string };

export const describeSource = (source: KeySource): string => (source.kind === 'variable' ? source.variable : source.file);

export interface FoundKey {
  readonly key: SecretKey;
  readonly source: KeySource;
}

/** One environment's keys. `current` encrypts; the rest (older ones during a rotation) only decrypt. */
export interface EnvKeys {
  readonly envName: string;
  readonly current: FoundKey | undefined;
  readonly all: readonly FoundKey[];
  /** The key file holds more than one key: a rotation was started and not finished. */
  readonly rotating: boolean;
}

function parseKey(text: string): Buffer | undefined {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/_-]+=*$/.test(trimmed)) return undefined;
  const bytes = Buffer.from(trimmed.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''), 'base64url');
  return bytes.length === KEY_BYTES ? bytes : undefined;
}

export const formatKey = (key: SecretKey): string => key.bytes.toString('base64url');

/** Keys in a key file, first the current one. Never echoes a line: it may hold a key. */
export function readKeyFile(file: string, shown = file): SecretKey[] | undefined {
  const bytes = readConfigFile({ path: file, shown, kind: 'envfile', hint: 'a tf key file must be a readable file' });
  if (bytes === undefined) return undefined;
  const keys: SecretKey[] = [];
  decodeConfigText(bytes, { shown, kind: 'envfile' })
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '' || line.trim().startsWith('#')) return;
      const key = parseKey(line);
      if (key === undefined) {
        throw new TfError('envfile', 'is not a tf key (a line of 43 base64url characters, 32 bytes)', {
          file: shown,
          line: i + 1,
          hint: 'restore the file from where the key is kept, or set the key in TF_KEY_<ENV>',
        });
      }
      keys.push(makeKey(key));
    });
  return keys;
}

/** The key in `TF_KEY_<ENV>`, if set. */
export function keyFromVariable(shellEnv: Env, envName: string): SecretKey | undefined {
  const variable = keyVariable(envName);
  const value = shellEnv[variable];
  if (value === undefined || value === '') return undefined;
  const bytes = parseKey(value);
  if (bytes === undefined) {
    throw new TfError('option', `${variable} is not a tf key (43 base64url characters, 32 bytes)`, {
      hint: `copy it again from ${path.join(KEY_DIR, `${envName}.key`)} on a machine that has it`,
    });
  }
  return makeKey(bytes);
}

const display = (cwd: string | undefined, file: string): string => (cwd === undefined ? file : path.relative(cwd, file) || file);

/**
 * An environment's keys: the key file's, then `TF_KEY_<ENV>`. The file's first key is the
 * current one when there is a file, since `rotate` changes the file and cannot change a
 * variable some shell exported; any of them decrypts.
 */
export function findEnvKeys(root: string, shellEnv: Env, envName: string, cwd?: string): EnvKeys {
  const file = keyFileOf(root, envName);
  const shown = display(cwd, file);
  const fromFile = readKeyFile(file, shown) ?? [];
  const all: FoundKey[] = fromFile.map((key) => ({ key, source: { kind: 'file', file: shown } }));
  const fromVariable = keyFromVariable(shellEnv, envName);
  if (fromVariable !== undefined && !all.some((k) => k.key.id === fromVariable.id))
    all.push({ key: fromVariable, source: { kind: 'variable', variable: keyVariable(envName) } });
  return { envName, current: all[0], all, rotating: fromFile.length > 1 };
}

/**
 * Every key this machine has, per environment, found on demand: what decryption consults. Keys
 * of other environments are loaded too, only to say "this value was copied from environment X".
 */
export interface Keyring {
  forEnv(envName: string): EnvKeys;
  /** Every environment with a key file under the root. */
  readonly knownEnvs: readonly string[];
  readonly root: string;
}

export function loadKeyring(root: string, shellEnv: Env, cwd?: string): Keyring {
  const cache = new Map<string, EnvKeys>();
  let names: string[] = [];
  try {
    names = readdirSync(path.join(root, KEY_DIR))
      .filter((n) => n.endsWith('.key'))
      .map((n) => n.slice(0, -'.key'.length));
  } catch {
    // No key directory: no key files.
  }
  return {
    root,
    knownEnvs: names.sort(),
    forEnv(envName) {
      let keys = cache.get(envName);
      if (keys === undefined) {
        keys = findEnvKeys(root, shellEnv, envName, cwd);
        cache.set(envName, keys);
      }
      return keys;
    },
  };
}

/** Writes an environment's key file (current key first), mode 0600 in a 0700 directory. */
export function writeKeyFile(root: string, envName: string, keys: readonly SecretKey[]): string {
  const file = keyFileOf(root, envName);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const text = [
    `# tf secret key for environment "${envName}". Keep it out of git and share it only with people who may read the secrets.`,
    '# The first key encrypts; any other is an old key kept until `tf secrets rotate` has finished.',
    ...keys.map(formatKey),
    '',
  ].join('\n');
  // Always 0600, even over a key file someone made readable: the new key must not leak the same way.
  writeFileAtomic(file, text, 0o600, { keepMode: false });
  return file;
}

/** A copy of `env` without any `TF_KEY_*`: no child process gets a key. */
export function withoutKeys(env: Env): Env {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (!name.startsWith('TF_KEY_') && value !== undefined) kept[name] = value;
  return kept;
}

/** Adds the key directory to the root's .gitignore unless a line already covers it; true when it wrote. */
export function ignoreKeyDir(root: string): boolean {
  const file = path.join(root, '.gitignore');
  const text = readEnvText(file, '.gitignore') ?? '';
  const covered = text
    .split(/\r?\n/)
    .some((line) => ['.tf', '.tf/', '/.tf', '/.tf/', '.tf/keys', '.tf/keys/', '/.tf/keys', '/.tf/keys/'].includes(line.trim()));
  if (covered) return false;
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  writeFileAtomic(file, `${text}${text === '' || text.endsWith('\n') ? '' : eol}${KEY_DIR_IGNORE}${eol}`);
  return true;
}

/** A key file that leaks: tracked by git or readable by others. */
export interface KeyFileProblem {
  readonly file: string;
  readonly message: string;
  readonly hint: string;
}

function trackedByGit(root: string, file: string): boolean {
  try {
    execFileSync('git', ['ls-files', '--error-unmatch', '--', file], { cwd: root, stdio: 'ignore' });
    return true;
  } catch {
    // Not tracked, not a repository, or no git at all: nothing git could leak.
    return false;
  }
}

/** What `tf check` reports about key files (tf's and dotenvx's `.env.keys`) under `root`. */
export function keyFileProblems(root: string, cwd?: string): KeyFileProblem[] {
  const files: string[] = [];
  try {
    for (const name of readdirSync(path.join(root, KEY_DIR)).sort()) if (name.endsWith('.key')) files.push(path.join(root, KEY_DIR, name));
  } catch {
    // No key directory.
  }
  files.push(path.join(root, '.env.keys'));
  const problems: KeyFileProblem[] = [];
  for (const file of files) {
    let mode: number;
    try {
      mode = statSync(file).mode;
    } catch {
      continue;
    }
    const shown = display(cwd, file);
    if (trackedByGit(root, path.relative(root, file))) {
      problems.push({
        file: shown,
        message: 'is tracked by git, so everyone with the repository has the key',
        hint: `run git rm --cached ${path.relative(root, file)}, commit, and rotate the key (everyone who cloned has it)`,
      });
    }
    if ((mode & 0o077) !== 0) {
      problems.push({
        file: shown,
        message: `is readable by other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')})`,
        hint: `run chmod 600 ${shown}`,
      });
    }
  }
  return problems;
}

/** Throws the first key-file problem as the error `tf check` fails with. */
export function assertKeyFilesSafe(root: string, cwd?: string): void {
  const [first] = keyFileProblems(root, cwd);
  if (first !== undefined) throw new TfError('envfile', first.message, { file: first.file, hint: first.hint });
}
