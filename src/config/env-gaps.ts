import type { EnvPart } from '../domain.js';
import { evaluate, type ParsedEnvFile, type Unset } from './env.js';

/** Marks an unset variable's place in a value: no env file value holds a NUL byte (parseEnvFile refuses one). */
const placeholder: Unset = (name) => `\0${name}\0`;
const PLACEHOLDER = /\0([A-Za-z_][A-Za-z0-9_]*)\0/;

/**
 * The values the env files alone leave incomplete: each one built on a variable that no file sets
 * before it and that has no default there (`PATH=./bin:$PATH`, `DIR=$HOME/data`, and what is built
 * on those in turn), in parts. Only a shell completes them, so they are independent of the shell
 * this tf runs in: an export, which never takes the developer's shell, cannot write them as they are.
 */
export function gapsOf(files: readonly ParsedEnvFile[]): Map<string, readonly EnvPart[]> {
  const alone = new Map<string, string>();
  for (const file of files) {
    for (const entry of file.entries)
      alone.set(
        entry.key,
        evaluate(entry, (name) => alone.get(name), placeholder),
      );
  }
  const gaps = new Map<string, readonly EnvPart[]>();
  for (const [key, value] of alone) {
    if (!value.includes('\0')) continue;
    // split() with a group: text at even indices, the variables' names at odd ones.
    const parts = value.split(PLACEHOLDER).flatMap((piece, i): EnvPart[] => (i % 2 === 1 ? [{ variable: piece }] : piece === '' ? [] : [{ text: piece }]));
    gaps.set(key, parts);
  }
  return gaps;
}
