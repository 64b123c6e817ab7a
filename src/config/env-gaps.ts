import type { EnvPart, FileLine, LateSetting } from '../domain.js';
import { evaluate, extendsItself, type ParsedEnvFile, type Unknowns } from './env.js';

/**
 * Marks, in a value, the places the files alone cannot fill: `\0NAME\0` for an unset variable,
 * `\0?NAME:A,B\0` for an undecided `${NAME:-default}` (see UndecidedDefault). No env file value
 * holds a NUL byte (parseEnvFile refuses one), and a name holds no `?`, `:` or `,`.
 */
const MARK = /\0([^\0]*)\0/;
const MARKS = /\0([^\0]*)\0/g;

/** The variables no file sets that a value is built on, each once, in order. */
function variablesIn(value: string): string[] {
  const names = [...value.matchAll(MARKS)].flatMap(([, mark = '']) => (mark.startsWith('?') ? (mark.split(':')[1] ?? '').split(',') : [mark]));
  return [...new Set(names.filter((n) => n !== ''))];
}

const unknowns = (unset: (name: string) => void = () => {}): Unknowns => ({
  unset: (name) => {
    unset(name);
    return `\0${name}\0`;
  },
  // Made of marks alone, the value is empty only where the target leaves all of them empty: there
  // the default applies, elsewhere it does not, and no file tells which. With any text it is never
  // empty, and the default never applies, as in a shell.
  undecided: (name, current, fallback) => (current.replace(MARKS, '') === '' ? `\0?${name}:${variablesIn(current + fallback).join(',')}\0` : undefined),
});

const partOf = (mark: string): EnvPart => {
  if (!mark.startsWith('?')) return { variable: mark };
  const [defaultOf = '', names = ''] = mark.slice(1).split(':');
  return { defaultOf, variables: names.split(',').filter((n) => n !== '') };
};

/**
 * The values the env files alone leave incomplete: each one built on a variable that no file sets
 * before it and that has no default there (`PATH=./bin:$PATH`, `DIR=$HOME/data`, and what is built
 * on those in turn), or on a default that applies only where such variables are empty
 * (`${DIR:-/srv}` after that DIR), in parts. Only a shell completes them, so they are independent of
 * the shell this tf runs in: an export, which never takes the developer's shell, cannot write them as they are.
 */
export function gapsOf(files: readonly ParsedEnvFile[]): Map<string, readonly EnvPart[]> {
  const alone = new Map<string, string>();
  for (const file of files) {
    for (const entry of file.entries)
      alone.set(
        entry.key,
        evaluate(entry, (name) => alone.get(name), unknowns()),
      );
  }
  const gaps = new Map<string, readonly EnvPart[]>();
  for (const [key, value] of alone) {
    if (!value.includes('\0')) continue;
    // split() with a group: text at even indices, the marks at odd ones.
    const parts = value.split(MARK).flatMap((piece, i): EnvPart[] => (i % 2 === 1 ? [partOf(piece)] : piece === '' ? [] : [{ text: piece }]));
    gaps.set(key, parts);
  }
  return gaps;
}

/**
 * The variables that a line used before any line set them, and that a later line does set: a
 * reference sees only the lines above it (tf start reads them so too), so the value that needed one
 * is incomplete, and moving the later line up is the fix. A line that sets a variable on top of
 * itself (`PATH=./bin:$PATH`) does not count: moved up, it would leave the gap where it was.
 */
export function lateSettings(files: readonly ParsedEnvFile[]): Map<string, LateSetting> {
  const alone = new Map<string, string>();
  const neededAt = new Map<string, FileLine>();
  const late = new Map<string, LateSetting>();
  for (const file of files) {
    for (const entry of file.entries) {
      const here = { file: file.file, line: entry.line };
      const needed = neededAt.get(entry.key);
      if (needed !== undefined && !late.has(entry.key) && !extendsItself(entry)) late.set(entry.key, { neededAt: needed, setAt: here });
      const record = (name: string): void => {
        if (!neededAt.has(name)) neededAt.set(name, here);
      };
      alone.set(
        entry.key,
        evaluate(entry, (name) => alone.get(name), unknowns(record)),
      );
    }
  }
  return late;
}
