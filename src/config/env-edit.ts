import { closeSync, constants, fchmodSync, fsyncSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { TfError } from '../errors.js';
import { decodeConfigText, readConfigFile } from './read.js';
import { scanEnvText } from './env.js';

/**
 * Replaces `file` with `data` so that a reader sees the old file or the new one, never a part:
 * a temporary file beside it, written and fsynced, renamed over it, and the directory fsynced
 * so the rename itself survives a crash. The file keeps its mode (`mode` when it is new, or
 * always with `keepMode: false`).
 */
export function writeFileAtomic(file: string, data: string, mode = 0o644, options: { keepMode: boolean } = { keepMode: true }): void {
  let keep = mode;
  try {
    if (options.keepMode) keep = statSync(file).mode & 0o7777;
  } catch {
    // A new file takes `mode`.
  }
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.tf-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, keep);
  try {
    // The umask narrowed the mode at open; the replacement gets exactly the old file's.
    fchmodSync(fd, keep);
    const bytes = Buffer.from(data, 'utf8');
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(temp);
    throw error;
  }
  closeSync(fd);
  renameSync(temp, file);
  try {
    const dir = openSync(path.dirname(file), constants.O_RDONLY);
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // Some file systems refuse to fsync a directory; the rename is done either way.
  }
}

/** Where a value sits in an env file's text, as offsets into that text. */
interface ValueSpan {
  readonly start: number;
  readonly end: number;
  readonly quote: string;
}

/** The span of the value of the assignment of `key` on 1-based `line` of `text`. */
function valueSpan(text: string, line: number, key: string): ValueSpan | undefined {
  let start = 0;
  for (let n = 1; n < line; n++) {
    const next = text.indexOf('\n', start);
    if (next === -1) return undefined;
    start = next + 1;
  }
  const head = new RegExp(`^[ \\t]*(?:export[ \\t]+)?${key.replace(/[.]/g, '\\.')}[ \\t]*(?:=[ \\t]*|:[ \\t]+)`).exec(text.slice(start));
  if (head === null) return undefined;
  const from = start + head[0].length;
  const quote = text[from] ?? '';
  if (quote === "'" || quote === '"' || quote === '`') {
    for (let i = from + 1; i < text.length; i++) {
      if (text[i] === '\\') i++;
      else if (text[i] === quote) return { start: from, end: i + 1, quote };
    }
    return undefined;
  }
  let end = text.indexOf('\n', from);
  if (end === -1) end = text.length;
  const rest = text.slice(from, end);
  const comment = /[ \t]#/.exec(rest);
  const value = (comment === null ? rest : rest.slice(0, comment.index)).replace(/[ \t\r]+$/, '');
  return { start: from, end: from + value.length, quote: '' };
}

/**
 * `text` with `key` set to `rawValue` (written as is: the caller makes it one safe token): the
 * last assignment of `key` has its value replaced in place, keeping its quotes, `export` and
 * comment; a key not there is appended as `KEY=value` on a line of its own. Every other byte
 * stays as it was.
 */
export function setEnvValueInText(text: string, key: string, rawValue: string): string {
  const bom = text.startsWith('\uFEFF') ? 1 : 0;
  const entries = scanEnvText(text).entries.filter((e) => e.key === key);
  const last = entries[entries.length - 1];
  if (last !== undefined) {
    const span = valueSpan(text.slice(bom), last.line, key);
    if (span !== undefined) {
      const quote = span.quote === '`' ? '"' : span.quote;
      return `${text.slice(0, bom + span.start)}${quote}${rawValue}${quote}${text.slice(bom + span.end)}`;
    }
  }
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const separator = text === '' || text.endsWith('\n') ? '' : eol;
  return `${text}${separator}${key}=${rawValue}${eol}`;
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
  if (next !== text) writeFileAtomic(file, next);
}
