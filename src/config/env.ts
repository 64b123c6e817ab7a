import { parse } from 'dotenv';
import type { Env, Warning } from '../domain.js';

/** One env file's text with the name to show the user. */
export interface EnvSource {
  readonly file: string;
  readonly text: string;
}

export interface ParsedEnvFile {
  readonly file: string;
  /** Values as dotenv parsed them, in file order, not yet expanded. */
  readonly vars: Record<string, string>;
  /** Keys whose value was single-quoted: taken literally, as a shell would. */
  readonly literal: ReadonlySet<string>;
  readonly warnings: Warning[];
}

const ASSIGNMENT = /^\s*(?:export\s+)?([\w.-]+)(?:\s*=|:\s)\s*(.*)$/;
const QUOTES = new Set(['"', "'", '`']);

interface Scan {
  skipped: number[];
  literal: Set<string>;
}

/**
 * dotenv parses; this scan only finds what dotenv does not tell: the lines it would skip
 * without a word (a typo such as `FOO BAR=1` is then reported with its file and line
 * instead of vanishing), and which values were single-quoted.
 */
export function scanEnvText(text: string): Scan {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const scan: Scan = { skipped: [], literal: new Set() };
  let openQuote: string | undefined;
  lines.forEach((line, i) => {
    if (openQuote !== undefined) {
      if (line.includes(openQuote)) openQuote = undefined;
      return;
    }
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const match = ASSIGNMENT.exec(line);
    if (match === null) {
      scan.skipped.push(i + 1);
      return;
    }
    const key = match[1] ?? '';
    const value = match[2] ?? '';
    const quote = value[0];
    if (quote === "'") scan.literal.add(key);
    else scan.literal.delete(key);
    if (quote !== undefined && QUOTES.has(quote) && value.indexOf(quote, 1) === -1) openQuote = quote;
  });
  return scan;
}

export function parseEnvFile(source: EnvSource): ParsedEnvFile {
  const { skipped, literal } = scanEnvText(source.text);
  const warnings = skipped.map(
    (line): Warning => ({ file: source.file, line, message: 'not a KEY=value line, so it was ignored; fix it or comment it out with "#"' }),
  );
  return { file: source.file, vars: parse(source.text), literal, warnings };
}

// $NAME, ${NAME}, ${NAME:-default}, ${NAME-default}; `\$` stays a literal dollar.
const REFERENCE = /\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)((?:[^{}]|\{[^{}]*\})*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/** Expands references in one value; `lookup` returns undefined for an unset name. */
export function expandValue(value: string, lookup: (name: string) => string | undefined): string {
  return value.replace(REFERENCE, (whole, braced?: string, op?: string, fallback?: string, bare?: string) => {
    if (whole === '\\$') return '$';
    const current = lookup(braced ?? bare ?? '');
    if (op === undefined) return current ?? '';
    const useDefault = op === ':-' ? current === undefined || current === '' : current === undefined;
    return useDefault ? expandValue(fallback ?? '', lookup) : (current ?? '');
  });
}

/**
 * Layers env files (each file overriding the ones before it) and expands references
 * against the keys defined so far and the shell. The shell wins over the files unless
 * `filesWin`; either way a file may build on the value it replaces (`PATH=./bin:$PATH`).
 *
 * Expansion is done here rather than with dotenv-expand: that library lets its target
 * environment win over the values it expands, which breaks file layering, and it cannot
 * let a file extend the shell variable it overrides.
 */
export function resolveEnv(shell: Env, files: readonly ParsedEnvFile[], filesWin: boolean): Env {
  const layered: Record<string, string> = {};
  const lookup = (name: string): string | undefined =>
    filesWin ? (layered[name] ?? shell[name]) : (shell[name] ?? layered[name]);
  for (const file of files) {
    for (const [key, raw] of Object.entries(file.vars)) {
      layered[key] = file.literal.has(key) ? raw : expandValue(raw, lookup);
    }
  }
  return filesWin ? { ...shell, ...layered } : { ...layered, ...shell };
}
