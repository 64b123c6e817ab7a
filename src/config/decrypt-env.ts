import path from 'node:path';
import type { Env } from '../domain.js';
import { TfError } from '../errors.js';
import { decryptDotenvx, isDotenvxValue, loadDotenvxKeys, type DotenvxKeys } from './dotenvx.js';
import { evaluate, type EnvEntry, type ParsedEnvFile } from './env.js';
import { DEFAULT_ENV, describeSource, envNameOfFile, KEY_DIR, keyVariable, loadKeyring, type Keyring } from './keys.js';
import { decryptValue, findBinding, isTfSecret, parseSecret, type SecretBinding } from './secrets.js';

/** Every key decryption may use: tf's per environment, and dotenvx's (read only when a dotenvx value appears). */
export interface SecretKeys {
  readonly keyring: Keyring;
  dotenvx(): DotenvxKeys;
}

export function loadSecretKeys(root: string, shellEnv: Env, cwd?: string): SecretKeys {
  let dotenvx: DotenvxKeys | undefined;
  return {
    keyring: loadKeyring(root, shellEnv, cwd),
    dotenvx: () => {
      dotenvx ??= loadDotenvxKeys(root, shellEnv, cwd);
      return dotenvx;
    },
  };
}

export const isEncrypted = (value: string): boolean => isTfSecret(value) || isDotenvxValue(value);

/** Where an encrypted value was written. */
export interface SecretPlace {
  /** The env file as shown to the user; its name decides the environment. */
  readonly file: string;
  readonly line: number;
  readonly name: string;
  /** Other variables of the same file: a failing value may have been copied from one of them. */
  readonly siblings?: readonly string[];
}

/** The command that writes `name` into `file` again, for hints. */
export function setCommand(name: string, file: string): string {
  const envName = envNameOfFile(file);
  const flags = `${envName === DEFAULT_ENV ? '' : ` --env ${envName}`}${path.basename(file).endsWith('.local') ? ' --local' : ''}`;
  return `tf secrets set ${name}${flags}`;
}

function howToSupply(envName: string): string {
  return `set ${keyVariable(envName)}, or save the key in ${path.join(KEY_DIR, `${envName}.key`)} (from whoever has it: tf secrets init makes a new key, which cannot open existing values)`;
}

/** The plaintext of an encrypted value, or a TfError naming file, line, variable, environment and the fix. Never the value. */
export function decryptAt(value: string, place: SecretPlace, keys: SecretKeys): string {
  const { file, line, name } = place;
  const fail = (message: string, hint: string): TfError => new TfError('envfile', message, { file, line, hint });
  if (isDotenvxValue(value)) {
    const found = keys.dotenvx();
    const result = decryptDotenvx(value, file, found);
    if (result.kind === 'ok') return result.plaintext;
    if (result.kind === 'no-key') {
      throw fail(
        `${name} is encrypted by dotenvx and this machine has no ${result.keyName}`,
        `set ${result.keyName} in the environment or add it to ${found.keysFile}`,
      );
    }
    throw fail(
      `${name} does not decrypt with ${result.keyName}: a wrong key, or the value was altered`,
      `check ${result.keyName} (environment or ${found.keysFile}), or encrypt the value again`,
    );
  }

  const envName = envNameOfFile(file);
  const envKeys = keys.keyring.forEnv(envName);
  const redo = setCommand(name, file);
  const parsed = parseSecret(value);
  if (parsed.kind === 'malformed')
    throw fail(`${name} (environment "${envName}") starts like a tf encrypted value but is damaged`, `set it again with ${redo}`);
  const binding: SecretBinding = { envName, name };
  const key = envKeys.all.find((k) => k.key.id === parsed.keyId);
  if (key === undefined) {
    for (const other of keys.keyring.knownEnvs) {
      if (other !== envName && keys.keyring.forEnv(other).all.some((k) => k.key.id === parsed.keyId)) {
        throw fail(
          `${name} is encrypted with key ${parsed.keyId}, which is environment "${other}"'s key, not "${envName}"'s: a value cannot be copied between environments`,
          `set it again with ${redo}`,
        );
      }
    }
    if (envKeys.all.length === 0)
      throw fail(`${name} needs key ${parsed.keyId} of environment "${envName}", and this machine has no key for "${envName}"`, howToSupply(envName));
    const have = envKeys.all.map((k) => `${k.key.id} (${describeSource(k.source)})`).join(', ');
    throw fail(`${name} needs key ${parsed.keyId} of environment "${envName}", but this machine has ${have}`, howToSupply(envName));
  }
  const result = decryptValue(value, key.key, binding);
  if (result.kind === 'ok') return result.plaintext;
  const candidates: SecretBinding[] = [
    ...(place.siblings ?? []).filter((n) => n !== name).map((n) => ({ envName, name: n })),
    ...[DEFAULT_ENV, ...keys.keyring.knownEnvs].filter((e) => e !== envName).map((e) => ({ envName: e, name })),
  ];
  const actual = findBinding(value, key.key, candidates);
  if (actual !== undefined && actual.name !== name) {
    throw fail(`${name} holds the value encrypted for ${actual.name}: a value cannot be moved to another variable`, `set it again with ${redo}`);
  }
  if (actual !== undefined) {
    throw fail(
      `${name} holds a value encrypted for environment "${actual.envName}", not "${envName}": a value cannot be copied between environments`,
      `set it again with ${redo}`,
    );
  }
  throw fail(
    `${name} (environment "${envName}") does not decrypt with key ${parsed.keyId}: the value was altered, damaged, or renamed from another variable`,
    `set it again with ${redo}`,
  );
}

export interface DecryptedFiles {
  /** Each decrypted entry is marked `decrypted`: resolveEnv follows the secret into what is built on it. */
  readonly files: ParsedEnvFile[];
}

/** Whether a line after `entries[index]` refers to its key before (or while) assigning it again. */
function usedBeforeReassigned(entries: readonly EnvEntry[], index: number): boolean {
  const key = entries[index]?.key;
  for (const later of entries.slice(index + 1)) {
    let used = false;
    evaluate(later, (name) => {
      if (name === key) used = true;
      return undefined;
    });
    if (used) return true;
    if (later.key === key) return false;
  }
  return false;
}

/**
 * Env files with every encrypted value replaced by its plaintext, taken literally (as if in
 * single quotes: a secret is never expanded), before layering. Decrypting here rather than
 * after `resolveEnv` lets other values reference a secret (`URL=postgres://u:${PASS}@db`).
 */
export function decryptEnvFiles(files: readonly ParsedEnvFile[], keys: SecretKeys): DecryptedFiles {
  const out = files.map((file) => {
    const siblings = file.entries.map((e) => e.key);
    if (!file.entries.some((e) => isEncrypted(e.raw))) return file;
    // The last assignment of a key gives its value; an earlier one (it may hold a rotated-out key) only when a
    // line before the next assignment of that key builds on it (`S=tf:v1:...` then `S=x$S`).
    const last = new Map(file.entries.map((e) => [e.key, e]));
    const entries = file.entries.map((entry, index) => {
      if (!isEncrypted(entry.raw) || (last.get(entry.key) !== entry && !usedBeforeReassigned(file.entries, index))) return entry;
      const plaintext = decryptAt(entry.raw, { file: file.file, line: entry.line, name: entry.key, siblings }, keys);
      return { ...entry, raw: plaintext, quoting: 'single' as const, decrypted: true };
    });
    return { ...file, entries };
  });
  return { files: out };
}
