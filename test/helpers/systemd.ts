import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * How systemd reads what `tf export systemd` writes, for round-trip tests. No tool on this
 * machine prints the argv or environment a unit would get without a running manager, so these
 * follow systemd's sources (v252, Debian 12); systemd-analyze verify checks the rest for real.
 */

export const ANALYZE = '/usr/bin/systemd-analyze';

/**
 * A systemd-analyze verify run over every unit in `dir`; its exit code alone lets mistakes through, so its output is what counts.
 * `asUnitDirectory` also makes `dir` a unit directory of the manager, as `~/.config/systemd/user` is, so that every file in it is seen.
 */
export function verify(dir: string, user: boolean, asUnitDirectory = false): { status: number | null; stdout: string; stderr: string } {
  const units = readdirSync(dir)
    .filter((f) => f.endsWith('.service') || f.endsWith('.target'))
    .map((f) => path.join(dir, f));
  // A user manager needs a runtime directory even to verify; this container has no session.
  const runtime = mkdtempSync(path.join(tmpdir(), 'tf-systemd-runtime-'));
  try {
    const result = spawnSync(ANALYZE, ['verify', ...(user ? ['--user'] : []), '--man=no', '--generators=no', ...units], {
      cwd: dir,
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        XDG_RUNTIME_DIR: runtime,
        SYSTEMD_LOG_COLOR: '0',
        SYSTEMD_PAGER: '',
        // A trailing ":" keeps the manager's own directories after this one.
        ...(asUnitDirectory ? { SYSTEMD_UNIT_PATH: `${dir}:` } : {}),
      },
      timeout: 60_000,
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  } finally {
    rmSync(runtime, { recursive: true, force: true });
  }
}

/**
 * What systemd does to an ExecStart= line, reimplemented from its sources (no tool here
 * prints the argv a unit would get without a running manager): `%` specifiers over the whole
 * line, then words split with quotes and C escapes, then `$` expansion per word. Any `%` or
 * `$` not doubled fails the test: it would have been expanded.
 */
export function execArgv(line: string): string[] {
  const expanded = line.replace(/%(.)/g, (_, c: string) => {
    if (c === '%') return '%';
    throw new Error(`specifier %${c} would be expanded`);
  });
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < expanded.length; i++) {
    const c = expanded[i] as string;
    if (c === '\\') {
      const next = expanded[++i] ?? '';
      const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', s: ' ' };
      if (next === 'x') {
        word = (word ?? '') + String.fromCharCode(parseInt(expanded.slice(i + 1, i + 3), 16));
        i += 2;
      } else if (simple[next] !== undefined) word = (word ?? '') + simple[next];
      else throw new Error(`escape \\${next} is not one systemd takes`);
    } else if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else word = (word ?? '') + c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= '';
    } else if (c === ' ' || c === '\t') {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else word = (word ?? '') + c;
  }
  if (quote !== undefined) throw new Error('unterminated quote');
  if (word !== undefined) words.push(word);
  return words.map((w) =>
    w.replace(/\$(.?)/g, (_, c: string) => {
      if (c === '$') return '$';
      throw new Error(`$${c} would be expanded`);
    }),
  );
}

/** systemd's env-file parser (src/basic/env-file.c, parse_env_file_internal), state for state. */
export function parseEnvFile(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const NEWLINE = '\n\r';
  const WHITESPACE = ' \t\n\r';
  type State = 'PRE_KEY' | 'KEY' | 'PRE_VALUE' | 'VALUE' | 'VALUE_ESCAPE' | 'SQ' | 'DQ' | 'DQ_ESCAPE' | 'COMMENT' | 'COMMENT_ESCAPE';
  let state: State = 'PRE_KEY';
  let key = '';
  let value = '';
  let keyWs = -1;
  let valueWs = -1;
  const push = (chomp: boolean): void => {
    out.set(keyWs === -1 ? key : key.slice(0, keyWs), chomp && valueWs !== -1 ? value.slice(0, valueWs) : value);
    key = '';
    value = '';
  };
  for (const c of text) {
    switch (state) {
      case 'PRE_KEY':
        if ('#;'.includes(c)) state = 'COMMENT';
        else if (!WHITESPACE.includes(c)) {
          state = 'KEY';
          keyWs = -1;
          key = c;
        }
        break;
      case 'KEY':
        if (NEWLINE.includes(c)) {
          state = 'PRE_KEY';
          key = '';
        } else if (c === '=') {
          state = 'PRE_VALUE';
          valueWs = -1;
        } else {
          if (!WHITESPACE.includes(c)) keyWs = -1;
          else if (keyWs === -1) keyWs = key.length;
          key += c;
        }
        break;
      case 'PRE_VALUE':
        if (NEWLINE.includes(c)) {
          state = 'PRE_KEY';
          push(false);
        } else if (c === "'") state = 'SQ';
        else if (c === '"') state = 'DQ';
        else if (c === '\\') state = 'VALUE_ESCAPE';
        else if (!WHITESPACE.includes(c)) {
          state = 'VALUE';
          value += c;
        }
        break;
      case 'VALUE':
        if (NEWLINE.includes(c)) {
          state = 'PRE_KEY';
          push(true);
        } else if (c === '\\') {
          state = 'VALUE_ESCAPE';
          valueWs = -1;
        } else {
          if (!WHITESPACE.includes(c)) valueWs = -1;
          else if (valueWs === -1) valueWs = value.length;
          value += c;
        }
        break;
      case 'VALUE_ESCAPE':
        state = 'VALUE';
        if (!NEWLINE.includes(c)) value += c;
        break;
      case 'SQ':
        if (c === "'") state = 'PRE_VALUE';
        else value += c;
        break;
      case 'DQ':
        if (c === '"') state = 'PRE_VALUE';
        else if (c === '\\') state = 'DQ_ESCAPE';
        else value += c;
        break;
      case 'DQ_ESCAPE':
        state = 'DQ';
        if ('"\\`$'.includes(c)) value += c;
        else if (c !== '\n') value += `\\${c}`;
        break;
      case 'COMMENT':
        if (c === '\\') state = 'COMMENT_ESCAPE';
        else if (NEWLINE.includes(c)) state = 'PRE_KEY';
        break;
      case 'COMMENT_ESCAPE':
        // systemd before v254 (Debian 12 has v252) stays in the comment after an escaped character.
        state = 'COMMENT';
        break;
    }
  }
  if (['PRE_VALUE', 'VALUE', 'VALUE_ESCAPE', 'SQ', 'DQ', 'DQ_ESCAPE'].includes(state)) push(state === 'VALUE');
  return out;
}

/** The settings of one unit section, `Key` -> values in order (a key may repeat). */
export function unitSettings(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (match === null) continue;
    const [, key, value] = match as unknown as [string, string, string];
    settings.set(key, [...(settings.get(key) ?? []), value]);
  }
  return settings;
}
