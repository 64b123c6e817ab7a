import type { ProcessType, Procfile } from '../domain.js';
import { TfError } from '../errors.js';

const NAME = /^[A-Za-z0-9_-]+$/;
// `name: command` at the very start of the line; indentation is rejected so that a
// YAML-style block (`web:` followed by indented keys) fails loudly instead of half-parsing.
const ENTRY = /^([^\s:#][^:\s]*)\s*:(.*)$/;

/** The names `--formation` gives a meaning of its own. */
const RESERVED = new Set(['all']);

/**
 * Parses Procfile text. Every line must be blank, a `#` comment, or `name: command`;
 * anything else is an error naming the line (foreman drops such lines silently).
 */
export function parseProcfile(text: string, file: string): Procfile {
  const types: ProcessType[] = [];
  const seen = new Map<string, number>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);

  lines.forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;

    const match = ENTRY.exec(raw);
    if (match === null) {
      throw new TfError('procfile', `expected "name: command", got ${JSON.stringify(raw)}`, { file, line });
    }
    const name = match[1] ?? '';
    const command = (match[2] ?? '').trim();
    if (!NAME.test(name)) {
      throw new TfError('procfile', `invalid process type name ${JSON.stringify(name)}`, {
        file,
        line,
        hint: 'names may contain only letters, digits, "_" and "-"',
      });
    }
    if (RESERVED.has(name)) {
      throw new TfError('procfile', `process type name ${JSON.stringify(name)} is reserved`, {
        file,
        line,
        hint: `"${name}=N" in --formation means every type; rename this entry`,
      });
    }
    if (raw.includes('\0')) {
      throw new TfError('procfile', `process type "${name}" contains a NUL byte, which no command can hold`, {
        file,
        line,
        hint: 're-save the file as UTF-8 text',
      });
    }
    if (command === '') {
      throw new TfError('procfile', `process type "${name}" has no command`, { file, line, hint: 'write "name: command" on one line' });
    }
    const previous = seen.get(name);
    if (previous !== undefined) {
      throw new TfError('procfile', `duplicate process type "${name}" (first defined on line ${previous})`, {
        file,
        line,
        hint: 'give each entry its own name',
      });
    }
    seen.set(name, line);
    types.push({ name, command, line, position: types.length });
  });

  if (types.length === 0) {
    throw new TfError('procfile', 'no process types defined', { file, hint: 'add a line such as "web: node server.js"' });
  }
  return { path: file, types };
}
