import { RELEASE_TYPE, type Formation, type ProcessType } from '../domain.js';
import { TfError } from '../errors.js';

const COUNT = /^\d+$/;

/** What the user asked to run: a formation spec and/or a list of types (`tf start web worker`). */
export interface FormationRequest {
  readonly spec?: string | undefined;
  /** Where the spec came from, for messages: `--formation` or `TF_FORMATION`. */
  readonly source?: string;
  readonly only?: readonly string[];
}

const typeList = (types: readonly ProcessType[]): string => types.map((t) => t.name).join(', ');

function unknownType(name: string, where: string, types: readonly ProcessType[]): TfError {
  // A type named on the command line is a command-line mistake (exit 2); one in a spec is config's.
  const kind = where === 'on the command line' ? 'usage' : 'formation';
  return new TfError(kind, `unknown process type "${name}" ${where}`, { hint: `types are: ${typeList(types)}` });
}

/** Parses `all=1,web=2,worker=0` into counts by name (`all` included as given). */
export function parseFormationSpec(spec: string, source: string, types: readonly ProcessType[]): Map<string, number> {
  const counts = new Map<string, number>();
  const known = new Set(types.map((t) => t.name));
  // Spaces around "=" are allowed (`web = 2`); entries are separated by commas or spaces.
  for (const entry of spec
    .replace(/\s*=\s*/g, '=')
    .split(/[,\s]+/)
    .filter((e) => e !== '')) {
    const eq = entry.indexOf('=');
    const name = eq === -1 ? entry : entry.slice(0, eq);
    const value = eq === -1 ? '' : entry.slice(eq + 1);
    if (eq === -1 || !COUNT.test(value)) {
      throw new TfError('formation', `bad formation entry "${entry}" in ${source}`, {
        hint: 'expected NAME=COUNT with a whole number, e.g. "web=2,worker=1"',
      });
    }
    if (name !== 'all' && !known.has(name)) throw unknownType(name, `in ${source}`, types);
    if (counts.has(name)) throw new TfError('formation', `"${name}" is given twice in ${source}`, { hint: 'give each type one count, e.g. "web=2,worker=1"' });
    counts.set(name, Number(value));
  }
  return counts;
}

/**
 * Resolves how many instances of each type run. Without a spec every type runs once; with
 * one, unnamed types run `all`'s count or none (foreman's semantics). Naming types on the
 * command line restricts the run to them.
 */
export function resolveFormation(types: readonly ProcessType[], request: FormationRequest): Formation {
  const source = request.source ?? '--formation';
  const spec = request.spec === undefined ? undefined : parseFormationSpec(request.spec, source, types);
  const only = request.only === undefined || request.only.length === 0 ? undefined : new Set(request.only);
  if (only !== undefined) {
    for (const name of only) {
      if (!types.some((t) => t.name === name)) throw unknownType(name, 'on the command line', types);
    }
  }

  const formation = new Map<string, number>();
  for (const type of types) {
    let count = spec === undefined ? 1 : (spec.get(type.name) ?? spec.get('all') ?? 0);
    if (only !== undefined) count = only.has(type.name) ? (spec?.get(type.name) ?? spec?.get('all') ?? 1) : 0;
    formation.set(type.name, count);
  }
  // The release entry runs as a phase (tf release, --release-phase), never as an instance: it alone is nothing to run.
  const runnable = types.filter((t) => t.name !== RELEASE_TYPE);
  if (runnable.length > 0 && runnable.every((t) => formation.get(t.name) === 0)) {
    const release = (formation.get(RELEASE_TYPE) ?? 0) > 0 ? ' (release is not run as a process: tf release runs it)' : '';
    throw new TfError('formation', `nothing to run: the formation gives every type 0 instances${release}`, {
      hint: `name at least one of: ${typeList(runnable)}`,
    });
  }
  return formation;
}
