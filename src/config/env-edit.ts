import { statSync } from 'node:fs';
import { TfError } from '../errors.js';
import { editEnvText, replaceFile } from './env-write.js';
import { decodeConfigText, readConfigFile } from './read.js';

/**
 * Replaces `file` with `data` atomically (env-write's replaceFile). The file keeps its mode
 * (`mode` when it is new, or always with `keepMode: false`).
 */
export function writeFileAtomic(file: string, data: string, mode = 0o644, options: { keepMode: boolean } = { keepMode: true }): void {
  let keep = mode;
  try {
    if (options.keepMode) keep = statSync(file).mode & 0o7777;
  } catch {
    // A new file takes `mode`.
  }
  replaceFile(file, data, keep);
}

/**
 * `text` with `key` set to `rawValue`, every other byte kept: the env writer's edit (the last
 * assignment of `key` changes in place; a key not there is appended).
 */
export function setEnvValueInText(text: string, key: string, rawValue: string): string {
  return editEnvText(text, [{ kind: 'set', key, value: rawValue }], key).text;
}

/** Reads an env file for rewriting (undefined when there is none), through the safe reader. */
export function readEnvText(file: string, shown: string): string | undefined {
  const bytes = readConfigFile({ path: file, shown, kind: 'envfile', hint: 'it must be a readable text file' });
  return bytes === undefined ? undefined : decodeConfigText(bytes, { shown, kind: 'envfile' });
}

/**
 * Sets `key` to `rawValue` in env `file` (created when missing), atomically and keeping every
 * other byte. The one place secrets writes an env file: the env writer (`tf env set`) may take
 * its place.
 */
export function writeEnvValue(file: string, key: string, rawValue: string, shown = file): void {
  if (/[\r\n]/.test(rawValue)) throw new TfError('internal', `a value for ${key} spans lines and cannot be written as one token`);
  const text = readEnvText(file, shown) ?? '';
  const next = setEnvValueInText(text, key, rawValue);
  if (next !== text) writeFileAtomic(file, next, newEnvFileMode(file));
}

/** The mode of an env file tf creates: a developer's own `*.local` layer is theirs alone (0600). */
export const newEnvFileMode = (file: string): number => (file.endsWith('.local') ? 0o600 : 0o644);
