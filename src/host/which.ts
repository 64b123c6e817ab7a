import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'shell-quote';
import type { Env } from '../domain.js';
import { SHELL_WORDS } from './shell.js';

/** A word that runs the words after it: its options (and the ones that take a value), then positional words. */
interface Wrapper {
  /** Options that consume the next word (`nice -n 5`). */
  readonly withValue: ReadonlySet<string>;
  /** Words after the options that are not the program (`timeout 5 cmd`: the duration). */
  readonly positional: number;
}

const wrapper = (withValue: string[] = [], positional = 0): Wrapper => ({ withValue: new Set(withValue), positional });
const WRAPPERS: ReadonlyMap<string, Wrapper> = new Map([
  ['exec', wrapper(['-a'])],
  ['command', wrapper()],
  ['nohup', wrapper()],
  ['time', wrapper(['-f', '-o'])],
  ['nice', wrapper(['-n'])],
  ['env', wrapper(['-u', '-C', '-S'])],
  ['timeout', wrapper(['-s', '-k'], 1)],
  ['setsid', wrapper()],
  ['stdbuf', wrapper(['-i', '-o', '-e'])],
]);
const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s;

/** The program a command line starts, and the PATH it is looked up in. */
export interface ProgramLookup {
  readonly program: string;
  readonly pathVar: string | undefined;
}

/** `$NAME` and `${NAME}` against the environment, enough for a `PATH=./bin:$PATH` prefix. */
const expand = (value: string, env: Env): string =>
  value.replace(/\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)/g, (_w, a?: string, b?: string) => env[a ?? b ?? ''] ?? '');

/**
 * The program a command line starts, skipping `FOO=1` prefixes and wrappers such as
 * `exec -a name` or `nice -n 5` with their options. A `PATH=...` prefix (or `env PATH=...`)
 * changes where the shell looks, so it is used for the lookup. Undefined when the program
 * cannot be known without running a shell (a builtin, a variable, an operator).
 */
export function programOf(command: string, env: Env = {}): ProgramLookup | undefined {
  let tokens: ReturnType<typeof parse>;
  try {
    tokens = parse(command, (name) => `$${name}`);
  } catch {
    return undefined;
  }
  let pathVar = env.PATH;
  let i = 0;
  const word = (at: number): string | undefined => {
    const token = tokens[at];
    return typeof token === 'string' ? token : undefined;
  };
  while (i < tokens.length) {
    const token = word(i);
    if (token === undefined) return undefined;
    const assignment = ASSIGNMENT.exec(token);
    if (assignment !== null) {
      if (assignment[1] === 'PATH') pathVar = expand(assignment[2] ?? '', env);
      i++;
      continue;
    }
    const wrap = WRAPPERS.get(token);
    if (wrap !== undefined) {
      i++;
      for (let option = word(i); option?.startsWith('-') && option !== '-'; option = word(i)) {
        i++;
        if (option === '--') break;
        if (wrap.withValue.has(option)) i++;
      }
      if (word(i) === '-') i++;
      i += wrap.positional;
      continue;
    }
    if (SHELL_WORDS.has(token) || token.includes('$') || token.startsWith('-')) return undefined;
    return { program: token, pathVar };
  }
  return undefined;
}

/** What /bin/sh would find for a program: one it can run, or why not. */
export type ProgramLookupResult =
  | { readonly kind: 'found' }
  | { readonly kind: 'missing' }
  | { readonly kind: 'directory' }
  | { readonly kind: 'not-executable' };

function fileAt(file: string): ProgramLookupResult {
  try {
    if (statSync(file).isDirectory()) return { kind: 'directory' };
  } catch {
    return { kind: 'missing' };
  }
  try {
    accessSync(file, constants.X_OK);
    return { kind: 'found' };
  } catch {
    return { kind: 'not-executable' };
  }
}

/**
 * How `program` resolves the way /bin/sh would from `cwd` with this PATH: a name with a `/`
 * is that file; a bare name is the first program of that name on PATH.
 */
export function findProgram(program: string, cwd: string, pathVar: string | undefined): ProgramLookupResult {
  if (program.includes('/')) return fileAt(path.resolve(cwd, program));
  // The shell runs the first executable file of that name; failing that, a file it cannot run is what it reports.
  const seen = (pathVar ?? '').split(':').flatMap((dir) => (dir === '' ? [] : [fileAt(path.join(path.resolve(cwd, dir), program))]));
  return seen.find((r) => r.kind === 'found') ?? seen.find((r) => r.kind === 'not-executable') ?? { kind: 'missing' };
}
