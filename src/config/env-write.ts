import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, fsyncSync, openSync, readFileSync, realpathSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { TfError } from '../errors.js';
import { evaluate, scanEnvText, type EnvEntry } from './env.js';
import { decodeConfigText, readConfigFile } from './read.js';

/** What a shell passes on as a variable name; the parser drops any other name. */
export const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export type EnvEdit = { readonly kind: 'set'; readonly key: string; readonly value: string } | { readonly kind: 'unset'; readonly key: string };

/**
 * What one edit did. Lines of `added` and `replaced` are numbered as in the edited file, those
 * of `removed` as in the file before (edits apply in order).
 */
export type EditOutcome =
  | { readonly kind: 'added'; readonly key: string; readonly line: number }
  /** `earlier`: other assignments of the key in the file, left as they are (the last one wins). */
  | { readonly kind: 'replaced'; readonly key: string; readonly line: number; readonly earlier: readonly number[] }
  | { readonly kind: 'removed'; readonly key: string; readonly lines: readonly number[] }
  | { readonly kind: 'absent'; readonly key: string };

/** One line as written, with its own line break ('' for the last line of a file without a final newline). */
interface RawLine {
  readonly text: string;
  readonly eol: string;
  /** Its number in the text the edits started from; undefined for a line an edit wrote. */
  readonly origin?: number | undefined;
}

/** Splits at the same breaks the parser counts (`\r\n`, a lone `\r`, `\n`), so line numbers agree. */
function splitLines(text: string): RawLine[] {
  const lines: RawLine[] = [];
  const breaks = /\r\n|\r|\n/g;
  let from = 0;
  for (let match = breaks.exec(text); match !== null; match = breaks.exec(text)) {
    lines.push({ text: text.slice(from, match.index), eol: match[0], origin: lines.length + 1 });
    from = match.index + match[0].length;
  }
  lines.push({ text: text.slice(from), eol: '', origin: lines.length + 1 });
  return lines;
}

const joinLines = (lines: readonly RawLine[]): string => lines.map((l) => l.text + l.eol).join('');

/** The break a new line gets: the file's own (its first one), so CRLF files stay CRLF. */
const lineBreakOf = (text: string): string => /\r\n|\r|\n/.exec(text)?.[0] ?? '\n';

/**
 * The ways to write `value`, plainest first: bare when it holds only safe characters, single
 * quotes when nothing inside needs an escape, else double quotes with the parser's escapes
 * (`\\ \" \$ \` \n \r`). Every candidate is checked by reading it back (see `verified`).
 */
export function encodings(value: string): string[] {
  const out: string[] = [];
  if (/^[\w@%+=:,./-]*$/.test(value)) out.push(value);
  if (!/['\\\n\r]/.test(value)) out.push(`'${value}'`);
  out.push(
    `"${value
      .replace(/[\\"$`]/g, '\\$&')
      .replace(/\n/g, '\\n')
      .replace(/\r/g, '\\r')}"`,
  );
  return out;
}

const sameEntry = (a: EnvEntry, b: EnvEntry): boolean => a.key === b.key && a.quoting === b.quoting && a.raw === b.raw;

/**
 * The last line of an assignment: a quoted value may span lines. Found by reading the lines
 * from the key's line on until they parse to the same assignment, so it is exactly what the
 * parser saw.
 */
function lastLineOf(lines: readonly RawLine[], entry: EnvEntry): number {
  const first = entry.line + (entry.raw.match(/\n/g)?.length ?? 0);
  for (let end = first; end <= lines.length; end++) {
    const slice = lines
      .slice(entry.line - 1, end)
      .map((l) => l.text)
      .join('\n');
    const found = scanEnvText(slice).entries[0];
    if (found !== undefined && sameEntry(found, entry)) return end;
  }
  return first;
}

const HEAD = /^(\s*(?:export\s+)?)([\w.-]+)([ \t]*=[ \t]*|:[ \t]*)/;
const QUOTE_CHAR: Record<string, string> = { single: "'", double: '"', backtick: '`' };

/** The line(s) of an assignment rewritten with a new value: its indentation, `export `, separator and trailing comment kept. */
function rewritten(lines: readonly RawLine[], entry: EnvEntry, last: number, encoded: string): string {
  const first = lines[entry.line - 1]?.text ?? '';
  const head = HEAD.exec(first);
  const lead = head?.[1] ?? '';
  const separator = head?.[3] ?? '=';
  let tail = '';
  if (entry.quoting === 'none') {
    const value = first.slice(head?.[0].length ?? first.length);
    const comment = /[ \t]+#/.exec(value);
    tail = comment === null ? '' : value.slice(comment.index);
  } else {
    const quote = QUOTE_CHAR[entry.quoting] ?? '"';
    const lastText = lines[last - 1]?.text ?? '';
    const lastPiece = `${entry.raw.slice(entry.raw.lastIndexOf('\n') + 1)}${quote}`;
    const at = last === entry.line ? lastText.indexOf(`${quote}${entry.raw}${quote}`, head?.[0].length ?? 0) : -1;
    if (at !== -1) tail = lastText.slice(at + entry.raw.length + 2);
    else if (last !== entry.line && lastText.startsWith(lastPiece)) tail = lastText.slice(lastPiece.length);
  }
  if (!/^[ \t]*#/.test(tail)) tail = '';
  else if (!/^[ \t]/.test(tail)) tail = ` ${tail}`;
  return `${lead}${entry.key}${separator}${encoded}${tail}`;
}

/** Whether `text` reads as `expected` (the other assignments) plus `key` = `value` at `line`. */
function verified(text: string, expected: readonly EnvEntry[], key: string, line: number, value: string, skipped: number): boolean {
  const scan = scanEnvText(text);
  if (scan.skipped.length !== skipped) return false;
  const mine = scan.entries.find((e) => e.line === line && e.key === key);
  if (mine === undefined) return false;
  const others = scan.entries.filter((e) => e !== mine);
  if (others.length !== expected.length || others.some((e, i) => !sameEntry(e, expected[i] as EnvEntry))) return false;
  let referenced = false;
  const read = evaluate(mine, () => {
    referenced = true;
    return undefined;
  });
  return !referenced && read === value;
}

/** Half of a UTF-16 pair: it has no UTF-8 form, so it could not be written and read back. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function checkEdit(edit: EnvEdit, file: string): void {
  if (!SHELL_NAME.test(edit.key)) {
    throw new TfError('option', `${JSON.stringify(edit.key)} is not a variable name a shell passes on`, {
      file,
      hint: 'use letters, digits and "_", not starting with a digit, e.g. DATABASE_URL',
    });
  }
  if (edit.kind === 'set' && edit.value.includes('\0')) {
    throw new TfError('option', `the value for ${edit.key} contains a NUL byte, which no process environment can hold`, { file, hint: 'remove it' });
  }
  if (edit.kind === 'set' && LONE_SURROGATE.test(edit.value)) {
    throw new TfError('option', `the value for ${edit.key} is not valid Unicode text`, { file, hint: 'pass it as UTF-8 text' });
  }
}

/** What one edit did, with its lines as objects, so they can be numbered once every edit is done. */
type Applied =
  | { readonly kind: 'added' | 'replaced'; readonly key: string; readonly line: RawLine; readonly earlier: readonly RawLine[] }
  | { readonly kind: 'removed'; readonly key: string; readonly lines: readonly RawLine[] }
  | { readonly kind: 'absent'; readonly key: string };

function applyOne(lines: RawLine[], edit: EnvEdit, file: string): { lines: RawLine[]; applied: Applied } {
  const text = joinLines(lines);
  const scan = scanEnvText(text);
  const own = scan.entries.filter((e) => e.key === edit.key);
  const at = (line: number): RawLine => lines[line - 1] as RawLine;
  if (edit.kind === 'unset') {
    if (own.length === 0) return { lines, applied: { kind: 'absent', key: edit.key } };
    const drop = new Set<number>();
    for (const entry of own) for (let line = entry.line; line <= lastLineOf(lines, entry); line++) drop.add(line);
    const kept = lines.filter((_, i) => !drop.has(i + 1));
    // Removing the file's last line leaves the one before it as the last: it keeps its break.
    const next = kept.length === 0 ? [{ text: '', eol: '' }] : kept;
    const others = scan.entries.filter((e) => e.key !== edit.key);
    const after = scanEnvText(joinLines(next));
    if (after.entries.length !== others.length || after.entries.some((e, i) => !sameEntry(e, others[i] as EnvEntry))) {
      throw new TfError('envfile', `removing ${edit.key} would change how other lines read`, { file, line: own[0]?.line, hint: 'edit the file by hand' });
    }
    return { lines: next, applied: { kind: 'removed', key: edit.key, lines: own.map((e) => at(e.line)) } };
  }

  const winner = own.at(-1);
  const expected = scan.entries.filter((e) => e !== winner);
  const earlier = own.slice(0, -1).map((e) => at(e.line));
  for (const encoded of encodings(edit.value)) {
    let next: RawLine[];
    let line: number;
    if (winner !== undefined) {
      const last = lastLineOf(lines, winner);
      const replacement: RawLine = { text: rewritten(lines, winner, last, encoded), eol: at(last).eol, origin: at(winner.line).origin };
      next = [...lines.slice(0, winner.line - 1), replacement, ...lines.slice(last)];
      line = winner.line;
    } else {
      const eol = lineBreakOf(text);
      next = lines.slice(0, -1);
      const end = lines.at(-1) ?? { text: '', eol: '' };
      // A file without a final newline gets one before the new line.
      if (end.text !== '') next.push({ ...end, eol });
      next.push({ text: `${edit.key}=${encoded}`, eol }, { text: '', eol: '' });
      line = next.length - 1;
    }
    if (verified(joinLines(next), expected, edit.key, line, edit.value, scan.skipped.length)) {
      return { lines: next, applied: { kind: winner === undefined ? 'added' : 'replaced', key: edit.key, line: next[line - 1] as RawLine, earlier } };
    }
  }
  throw new TfError('envfile', `${edit.key} cannot be written so that it reads back exactly, because of the lines around it`, {
    file,
    line: winner === undefined ? undefined : (at(winner.line).origin ?? winner.line),
    hint: 'check the file for an unclosed quote, or edit it by hand',
  });
}

/**
 * Applies edits to an env file's text, keeping every other byte: other lines, comments, order
 * and line breaks. A set edits the key's last assignment (the one that wins) or appends one;
 * an unset removes every assignment of the key. Pure; `file` only names it in errors.
 */
export function editEnvText(text: string, edits: readonly EnvEdit[], file: string): { text: string; outcomes: EditOutcome[] } {
  for (const edit of edits) checkEdit(edit, file);
  let lines = splitLines(text);
  const applied: Applied[] = [];
  for (const edit of edits) {
    const result = applyOne(lines, edit, file);
    lines = result.lines;
    applied.push(result.applied);
  }
  const position = new Map(lines.map((line, i) => [line, i + 1]));
  const where = (line: RawLine): number => position.get(line) ?? 0;
  const outcomes = applied.map((a): EditOutcome => {
    if (a.kind === 'added') return { kind: 'added', key: a.key, line: where(a.line) };
    if (a.kind === 'replaced') return { kind: 'replaced', key: a.key, line: where(a.line), earlier: a.earlier.map(where).filter((n) => n > 0) };
    if (a.kind === 'removed') return { kind: 'removed', key: a.key, lines: a.lines.flatMap((l) => (l.origin === undefined ? [] : [l.origin])) };
    return { kind: 'absent', key: a.key };
  });
  return { text: joinLines(lines), outcomes };
}

/** An env file to edit. */
export interface EnvFileTarget {
  readonly path: string;
  /** As shown to the user. */
  readonly shown: string;
  /** The mode of a file that does not exist yet (an existing file keeps its own). */
  readonly newMode: number;
}

export interface LockOptions {
  /** How long to wait for another writer before giving up. */
  readonly waitMs?: number;
  /** Age after which a lock tf cannot check (another host's, or one never filled in) counts as abandoned. */
  readonly staleMs?: number;
}

export interface EditResult {
  readonly created: boolean;
  readonly changed: boolean;
  readonly outcomes: readonly EditOutcome[];
}

const errno = (error: unknown): string | undefined => (error as NodeJS.ErrnoException).code;

function writeFailure(shown: string, error: unknown): TfError {
  const code = errno(error);
  const what =
    code === 'EACCES' || code === 'EPERM'
      ? 'cannot be written (permission denied)'
      : code === 'ENOENT'
        ? 'cannot be written: its directory does not exist'
        : `cannot be written (${code ?? String(error)})`;
  return new TfError('envfile', what, { file: shown, hint: 'check the path and its permissions', cause: error });
}

/**
 * Replaces `file` with `text` atomically: a temporary file in the same directory, written,
 * given the mode, flushed, then renamed over the file; the directory is flushed so the rename
 * survives a crash. A reader sees the old file or the new one, never half of one.
 */
export function replaceFile(file: string, text: string, mode: number): void {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    const bytes = Buffer.from(text, 'utf8');
    for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at);
    fchmodSync(fd, mode);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temp, file);
  } catch (error) {
    try {
      closeSync(fd);
    } catch {}
    try {
      unlinkSync(temp);
    } catch {}
    throw error;
  }
  try {
    const dir = openSync(path.dirname(file), constants.O_RDONLY);
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // Some file systems cannot flush a directory; the rename itself has happened.
  }
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface LockOwner {
  readonly pid: number;
  readonly host: string;
}

function readOwner(lock: string): { owner: LockOwner | undefined; ageMs: number; ino: number } | undefined {
  try {
    const stats = statSync(lock);
    const match = /^(\d+) (\S+)\n$/.exec(readFileSync(lock, 'utf8'));
    const owner = match === null ? undefined : { pid: Number(match[1]), host: match[2] ?? '' };
    return { owner, ageMs: Date.now() - stats.mtimeMs, ino: stats.ino };
  } catch {
    return undefined;
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errno(error) === 'EPERM';
  }
};

/**
 * The stale-lock rule: a lock is abandoned when its owner is a process of this host that no
 * longer runs, or, when that cannot be checked (another host's lock, or one whose owner died
 * before writing its pid), when it is older than `staleMs`. Writers hold it only for a
 * read-modify-rename, so an old lock is a dead one.
 */
function isStale(info: NonNullable<ReturnType<typeof readOwner>>, staleMs: number): boolean {
  if (info.owner !== undefined && info.owner.host === hostname()) return !alive(info.owner.pid);
  return info.ageMs > staleMs;
}

/**
 * Removes an abandoned lock. Breakers take a lock of their own first and look again under it,
 * so two of them cannot both remove a lock and one of them the fresh lock of a third writer.
 */
function breakStale(lock: string, staleMs: number): boolean {
  const breaker = `${lock}.break`;
  try {
    closeSync(openSync(breaker, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600));
  } catch {
    // A breaker lives for a few system calls; one left behind by a crash is removed by age.
    const old = readOwner(breaker);
    if (old !== undefined && old.ageMs > staleMs) {
      try {
        unlinkSync(breaker);
      } catch {}
    }
    return false;
  }
  try {
    const info = readOwner(lock);
    if (info === undefined) return true;
    if (!isStale(info, staleMs)) return false;
    unlinkSync(lock);
    return true;
  } catch {
    return false;
  } finally {
    try {
      unlinkSync(breaker);
    } catch {}
  }
}

/**
 * Runs `work` holding `FILE.lock` (created with O_EXCL, holding "PID HOST"), so concurrent
 * writers of one file take turns and none loses another's update. Waits up to `waitMs`.
 */
export async function withFileLock<T>(file: string, shown: string, work: () => T, options: LockOptions = {}): Promise<T> {
  const lock = `${file}.lock`;
  const waitMs = options.waitMs ?? 10_000;
  const staleMs = options.staleMs ?? 60_000;
  const deadline = Date.now() + waitMs;
  for (let attempt = 0; ; attempt++) {
    let fd: number | undefined;
    try {
      fd = openSync(lock, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
    } catch (error) {
      if (errno(error) !== 'EEXIST') throw writeFailure(shown, error);
    }
    if (fd !== undefined) {
      try {
        writeSync(fd, `${process.pid} ${hostname()}\n`);
      } finally {
        closeSync(fd);
      }
      break;
    }
    if (breakStale(lock, staleMs)) continue;
    if (Date.now() >= deadline) {
      const owner = readOwner(lock)?.owner;
      throw new TfError('envfile', `another writer holds ${shown}.lock${owner === undefined ? '' : ` (pid ${owner.pid} on ${owner.host})`}`, {
        hint: `try again; if no tf is writing ${shown}, remove ${shown}.lock`,
      });
    }
    // Jittered so that waiting writers do not retry in step.
    await pause(Math.min(50, 5 + attempt * 2) + Math.random() * 10);
  }
  try {
    return work();
  } finally {
    try {
      unlinkSync(lock);
    } catch {}
  }
}

/** The file's real path (an env file that is a symlink is edited where it points), or the path itself when there is none yet. */
function realTarget(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return file;
  }
}

/**
 * Edits an env file in place: under the file's lock, read (with the same checks as any config
 * read), edit (`editEnvText`), and replace atomically, keeping the file's mode. A file that
 * does not exist is created only when an edit adds something.
 */
export async function editEnvFile(target: EnvFileTarget, edits: readonly EnvEdit[], lock: LockOptions = {}): Promise<EditResult> {
  for (const edit of edits) checkEdit(edit, target.shown);
  const file = realTarget(target.path);
  return withFileLock(
    file,
    target.shown,
    () => {
      const configFile = { path: file, shown: target.shown, kind: 'envfile' as const, hint: 'fix or remove the file' };
      const bytes = readConfigFile(configFile);
      const before = bytes === undefined ? '' : decodeConfigText(bytes, configFile);
      if (bytes !== undefined && !Buffer.from(before, 'utf8').equals(bytes)) {
        throw new TfError('envfile', 'is not valid UTF-8, so it cannot be edited without changing other bytes', {
          file: target.shown,
          hint: 're-save it as UTF-8',
        });
      }
      const { text, outcomes } = editEnvText(before, edits, target.shown);
      const changed = text !== before;
      if (!changed) return { created: false, changed, outcomes };
      let mode = target.newMode;
      if (bytes !== undefined) {
        try {
          mode = statSync(file).mode & 0o7777;
        } catch {}
      }
      try {
        replaceFile(file, text, mode);
      } catch (error) {
        throw writeFailure(target.shown, error);
      }
      return { created: bytes === undefined, changed, outcomes };
    },
    lock,
  );
}
