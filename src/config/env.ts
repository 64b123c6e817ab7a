import type { Env, EnvOrigin, Warning } from '../domain.js';
import { TfError } from '../errors.js';

/** One env file's text with the name to show the user. */
export interface EnvSource {
  readonly file: string;
  readonly text: string;
}

/** How a value was written; it decides which escapes and expansions apply. */
export type Quoting = 'none' | 'single' | 'double' | 'backtick';

/** One `KEY=value` assignment as written in a file. */
export interface EnvEntry {
  readonly key: string;
  /** 1-based line of the key, for provenance and messages. */
  readonly line: number;
  readonly quoting: Quoting;
  /** The value between its quotes (or the unquoted value), escapes and references not yet applied. */
  readonly raw: string;
  /** `raw` is the plaintext of an encrypted value: secret, and so is every value built on it. */
  readonly decrypted?: boolean;
}

export interface ParsedEnvFile {
  readonly file: string;
  /** Assignments in file order; a later one of the same key wins. */
  readonly entries: readonly EnvEntry[];
  readonly warnings: Warning[];
}

/**
 * dotenv's own line pattern (dotenv 17), with its groups captured and indices on, so that the
 * lines read are exactly the lines dotenv reads: the property test in test/unit/config.test.ts
 * holds the two together. What differs is only how a value is read from the matched text:
 * an unquoted `#` starts a comment only after whitespace, and double quotes take the shell's
 * escapes (see `evaluate`).
 */
const LINE = /^(\s*(?:export\s+)?)([\w.-]+)(\s*=\s*?|:\s+?)(\s*'(?:\\'|[^'])*'|\s*"(?:\\"|[^"])*"|\s*`(?:\\`|[^`])*`|[^#\r\n]+)?\s*(?:#.*)?$/dgm;
/** dotenv strips one pair of matching quotes around the trimmed value. */
const QUOTED = /^(['"`])([\s\S]*)\1$/;
const QUOTING: Record<string, Quoting> = { "'": 'single', '"': 'double', '`': 'backtick' };
/** What a shell accepts as a variable name; dash drops every other name from a child's environment. */
const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Text as dotenv sees it: one line break form, no byte-order mark. */
const normalise = (text: string): string => text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');

/** The value of an unquoted assignment: the rest of its line, up to a `#` that follows whitespace (as sh). */
function unquotedValue(text: string, from: number): string {
  const end = text.indexOf('\n', from);
  const rest = text.slice(from, end === -1 ? text.length : end);
  const comment = /[ \t]#/.exec(rest);
  return (comment === null ? rest : rest.slice(0, comment.index)).trim();
}

export interface Scan {
  readonly entries: EnvEntry[];
  /** Lines with text on them that no assignment covers: dotenv skips them without a word. */
  readonly skipped: number[];
}

/** Finds every assignment of an env file with its line, and the lines no assignment reads. */
export function scanEnvText(source: string): Scan {
  const text = normalise(source);
  const lineStarts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  const lineAt = (offset: number): number => {
    let low = 0;
    let high = lineStarts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if ((lineStarts[mid] ?? 0) <= offset) low = mid;
      else high = mid - 1;
    }
    return low + 1;
  };

  const entries: EnvEntry[] = [];
  const covered = new Set<number>();
  for (const match of text.matchAll(LINE)) {
    const indices = match.indices;
    if (indices === undefined) continue;
    const key = match[2] ?? '';
    const start = (match.index ?? 0) + (match[0].length - match[0].trimStart().length);
    const end = (match.index ?? 0) + match[0].length;
    for (let line = lineAt(start); line <= lineAt(Math.max(start, end - 1)); line++) covered.add(line);

    const group = (match[4] ?? '').trim();
    const quoted = QUOTED.exec(group);
    const line = lineAt(indices[2]?.[0] ?? start);
    if (quoted !== null) {
      entries.push({ key, line, quoting: QUOTING[quoted[1] ?? ''] ?? 'none', raw: quoted[2] ?? '' });
    } else {
      const valueStart = indices[4]?.[0] ?? indices[3]?.[1] ?? end;
      entries.push({ key, line, quoting: 'none', raw: unquotedValue(text, valueStart) });
    }
  }
  const skipped: number[] = [];
  text.split('\n').forEach((content, i) => {
    const trimmed = content.trim();
    if (trimmed !== '' && !trimmed.startsWith('#') && !covered.has(i + 1)) skipped.push(i + 1);
  });
  return { entries, skipped };
}

/** Reads one env file: its assignments, and warnings for what it holds that no process will see. */
export function parseEnvFile(source: EnvSource): ParsedEnvFile {
  const { entries, skipped } = scanEnvText(source.text);
  const warnings: Warning[] = skipped.map((line) => ({
    file: source.file,
    line,
    message: 'not a KEY=value line, so it was ignored; fix it or comment it out with "#"',
  }));
  const kept: EnvEntry[] = [];
  for (const entry of entries) {
    if (entry.raw.includes('\0')) {
      throw new TfError('envfile', `the value of ${entry.key} contains a NUL byte, which no process environment can hold`, {
        file: source.file,
        line: entry.line,
        hint: 're-save the file as UTF-8 text without NUL bytes',
      });
    }
    if (!SHELL_NAME.test(entry.key)) {
      warnings.push({
        file: source.file,
        line: entry.line,
        message: `"${entry.key}" is not a variable name a shell passes on, so it was ignored; use letters, digits and "_", not starting with a digit`,
      });
      continue;
    }
    const quote = entry.quoting === 'none' ? entry.raw[0] : undefined;
    if (quote === '"' || quote === "'" || quote === '`') {
      // dotenv (and so tf) then keeps the text as it is: almost always an unclosed quote, not meant.
      warnings.push({
        file: source.file,
        line: entry.line,
        message: `the value of ${entry.key} starts with ${quote} but does not end with it, so it was taken as written, quotes included; close the quote or remove it`,
      });
    }
    if (entry.quoting === 'backtick') {
      // dotenv's third quote; to a shell (and to foreman's users) backticks run a command.
      warnings.push({
        file: source.file,
        line: entry.line,
        message: `the value of ${entry.key} is in backticks, which dotenv reads as quotes and a shell as a command: tf keeps the text between them and never runs it; use single quotes to say it is text`,
      });
    }
    const unexpanded = shellSyntaxKeptAsWritten(entry);
    if (unexpanded !== undefined) {
      warnings.push({
        file: source.file,
        line: entry.line,
        message: `the value of ${entry.key} holds ${unexpanded}, which tf keeps as written (it expands $VAR, \${VAR}, \${VAR:-default} and \${VAR-default} only, and never runs commands); put the value in single quotes to say it is literal`,
      });
    }
    kept.push(entry);
  }
  const text = normalise(source.text);
  if (text.includes('\0')) {
    const line = text.slice(0, text.indexOf('\0')).split('\n').length;
    throw new TfError('envfile', 'contains a NUL byte, which is not text', { file: source.file, line, hint: 're-save the file as UTF-8 text' });
  }
  warnings.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  return { file: source.file, entries: kept, warnings };
}

// $NAME, ${NAME}, ${NAME:-default}, ${NAME-default}.
const NAMED = String.raw`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)((?:[^{}]|\{[^{}]*\})*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`;
// Unquoted, `\$` stays a literal dollar.
const REFERENCE = new RegExp(String.raw`\\\$|${NAMED}`, 'g');
// In double quotes the shell's escapes come first: \" \\ \$ \` (and dotenv's \n and \r).
const DOUBLE_QUOTED = new RegExp(String.raw`\\(["\\$\x60nr])|${NAMED}`, 'g');
const ESCAPED: Record<string, string> = { n: '\n', r: '\r' };

type Lookup = (name: string) => string | undefined;
/**
 * How references expand where the files alone cannot say (see gapsOf). A shell knows every value:
 * an unset variable is nothing, and `${NAME:-default}` is decided.
 */
export interface Unknowns {
  /** What an unset variable without a default expands to. */
  readonly unset: (name: string) => string;
  /**
   * What `${name:-default}` expands to when no one here can tell whether `current` is empty (it is
   * made only of values the target gives); undefined when it is known, and the default applies as usual.
   */
  readonly undecided?: (name: string, current: string, fallback: string) => string | undefined;
}
const NOTHING: Unknowns = { unset: () => '' };

/**
 * What a shell would expand in this value and tf does not (`${E:?}`, `$(cmd)`, a backtick), named
 * by its form, not its text (a value is never shown); undefined when there is none.
 */
function shellSyntaxKeptAsWritten(entry: EnvEntry): string | undefined {
  if (entry.quoting !== 'none' && entry.quoting !== 'double') return undefined;
  // Each reference tf expands gives way to its default, which is scanned in turn (`${X:-$(pwd)}`).
  const pattern = entry.quoting === 'double' ? DOUBLE_QUOTED : REFERENCE;
  const defaultIndex = entry.quoting === 'double' ? 4 : 3;
  let rest = entry.raw;
  for (let before = ''; before !== rest; ) {
    before = rest;
    rest = rest.replace(pattern, (...groups: (string | undefined)[]) => groups[defaultIndex] ?? '');
  }
  if (rest.includes('$(')) return 'a command substitution $(...)';
  if (rest.includes('`')) return 'a command substitution in backticks';
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the words name the shell's syntax
  if (rest.includes('${')) return 'a ${...} form';
  return undefined;
}

function reference(lookup: Lookup, unknowns: Unknowns, braced?: string, op?: string, fallback?: string, bare?: string): string {
  const name = braced ?? bare ?? '';
  const current = lookup(name);
  if (op === undefined) return current ?? unknowns.unset(name);
  const expandFallback = (): string => expandValue(fallback ?? '', lookup, unknowns);
  if (op === ':-' && current !== undefined && current !== '' && unknowns.undecided !== undefined) {
    const undecided = unknowns.undecided(name, current, expandFallback());
    if (undecided !== undefined) return undecided;
  }
  const useDefault = op === ':-' ? current === undefined || current === '' : current === undefined;
  return useDefault ? expandFallback() : (current ?? '');
}

/** Expands references in one unquoted value; `lookup` returns undefined for an unset name. */
export function expandValue(value: string, lookup: Lookup, unknowns: Unknowns = NOTHING): string {
  return value.replace(REFERENCE, (whole, braced?: string, op?: string, fallback?: string, bare?: string) =>
    whole === '\\$' ? '$' : reference(lookup, unknowns, braced, op, fallback, bare),
  );
}

/** The value an entry gives a process: single quotes literal, double quotes with the shell's escapes. */
export function evaluate(entry: EnvEntry, lookup: Lookup, unknowns: Unknowns = NOTHING): string {
  if (entry.quoting === 'single') return entry.raw;
  if (entry.quoting !== 'double') return expandValue(entry.raw, lookup, unknowns);
  return entry.raw.replace(DOUBLE_QUOTED, (_whole, escaped?: string, braced?: string, op?: string, fallback?: string, bare?: string) =>
    escaped !== undefined ? (ESCAPED[escaped] ?? escaped) : reference(lookup, unknowns, braced, op, fallback, bare),
  );
}

/** Whether an entry's value builds on the variable it sets (`PATH=./bin:$PATH`). */
export function extendsItself(entry: EnvEntry): boolean {
  if (entry.quoting === 'single') return false;
  let found = false;
  evaluate(entry, (name) => {
    if (name === entry.key) found = true;
    return undefined;
  });
  return found;
}

export interface ResolvedEnv {
  readonly env: Env;
  /** Where each variable's value came from. */
  readonly origins: ReadonlyMap<string, EnvOrigin>;
  /** Keys set by a file whose value the shell's replaced (names only: values are never shown). */
  readonly shadowed: readonly string[];
  /**
   * Every file assignment of each key, in layering order (the last one is the file value that
   * won), so that `tf env` can say what a value overrode.
   */
  readonly definitions: ReadonlyMap<string, readonly FileOrigin[]>;
  /**
   * Keys whose value is secret: encrypted in a file (whatever value wins), or built on such a
   * value (`DB_URL=$DATABASE_URL`) where the file's value won.
   */
  readonly secretKeys: ReadonlySet<string>;
}

export type FileOrigin = Extract<EnvOrigin, { kind: 'file' }>;

/** A variable's value, never an Object property: `$constructor` is a name like any other. */
const own = (record: Env, name: string): string | undefined => (Object.hasOwn(record, name) ? record[name] : undefined);

/**
 * Layers env files (each file overriding the ones before it) and expands references
 * against the keys defined so far and the shell. The shell wins over the files unless
 * `filesWin`; either way a line that extends the variable it sets (`PATH=./bin:$PATH`)
 * applies on top of the value it extends, since that is the only reason to write it.
 *
 * Expansion is done here rather than with dotenv-expand: that library lets its target
 * environment win over the values it expands, which breaks file layering, and it cannot
 * let a file extend the shell variable it overrides.
 */
export function resolveEnv(shell: Env, files: readonly ParsedEnvFile[], filesWin: boolean): ResolvedEnv {
  // No prototype: a key named __proto__ is a key like any other.
  const layered: Record<string, string> = Object.create(null);
  const fileOrigin = new Map<string, EnvOrigin>();
  const definitions = new Map<string, FileOrigin[]>();
  /** Keys whose file value applies even though the shell has them. */
  const applied = new Set<string>();
  const lookup = (name: string): string | undefined =>
    filesWin || applied.has(name) ? (own(layered, name) ?? own(shell, name)) : (own(shell, name) ?? own(layered, name));
  /** Keys whose layered value so far is secret. */
  const secret = new Set<string>();
  /** Keys a file holds encrypted: a shell value that wins over them may well be their plaintext (tf run inside tf run). */
  const encrypted = new Set<string>();
  for (const file of files) {
    for (const entry of file.entries) {
      let fromSecret = false;
      layered[entry.key] = evaluate(entry, (name) => {
        const value = lookup(name);
        if (secret.has(name) && value !== undefined && value === layered[name]) fromSecret = true;
        return value;
      });
      if (entry.decrypted === true) encrypted.add(entry.key);
      if (entry.decrypted === true || fromSecret) secret.add(entry.key);
      else secret.delete(entry.key);
      const origin: FileOrigin = { kind: 'file', file: file.file, line: entry.line };
      fileOrigin.set(entry.key, origin);
      definitions.set(entry.key, [...(definitions.get(entry.key) ?? []), origin]);
      if (extendsItself(entry)) applied.add(entry.key);
      else applied.delete(entry.key);
    }
  }
  const env: Record<string, string> = { ...layered };
  const origins = new Map<string, EnvOrigin>(fileOrigin);
  const shadowed: string[] = [];
  for (const [key, value] of Object.entries(shell)) {
    if (fileOrigin.has(key) && (filesWin || applied.has(key))) continue;
    if (fileOrigin.has(key)) shadowed.push(key);
    env[key] = value;
    origins.set(key, { kind: 'shell' });
    if (encrypted.has(key)) secret.add(key);
    else secret.delete(key);
  }
  return { env, origins, shadowed, definitions, secretKeys: secret };
}
