import { defaultPolicy, RELEASE_TYPE, type ReadySpec, type RestartPolicy, type TypePolicy } from '../domain.js';
import { TfError } from '../errors.js';
import { parseSignal } from '../host/signals.js';
import type { TfYaml, TfYamlSettings } from './tfyaml.js';

/**
 * Policies per process type: restart, can-die, stop signal and readiness, from flags,
 * TF_* variables and tf.yaml. The value parsers here are shared by the flag specs and
 * tf.yaml, so both accept exactly the same words.
 */

/** A value that could not be used: what is wrong with it, and what to write instead. */
export interface Problem {
  readonly problem: string;
  readonly hint: string;
}

const isProblem = (value: unknown): value is Problem => typeof value === 'object' && value !== null && 'problem' in value;

const RESTART_POLICIES: readonly RestartPolicy[] = ['no', 'on-failure', 'always'];

export function parseRestartPolicy(value: string): RestartPolicy | Problem {
  const found = RESTART_POLICIES.find((p) => p === value);
  return found ?? { problem: `unknown restart policy ${JSON.stringify(value)}`, hint: 'use no, on-failure or always' };
}

const REFUSED_SIGNALS: Readonly<Record<string, string>> = {
  SIGKILL: 'SIGKILL cannot be caught, so the process gets no chance to shut down; tf already sends SIGKILL after the grace period (-t)',
  SIGSTOP: 'SIGSTOP suspends the process instead of ending it; use TERM, INT or QUIT',
};

/** A signal name as parseSignal reads it, minus those that cannot stop a process gracefully. */
export function parseStopSignal(value: string): NodeJS.Signals | Problem {
  const name = parseSignal(value);
  if (typeof name !== 'string') return name;
  const refused = REFUSED_SIGNALS[name];
  if (refused !== undefined) return { problem: `${name} cannot be a stop signal`, hint: refused };
  return name;
}

const PROBE_HINT = 'use port, http, http:/PATH, log:TEXT or none';

/** `port`, `http`, `http:/health`, `log:TEXT` or `none`. TEXT is taken verbatim (it may hold ':' and '='). */
export function parseReadySpec(value: string): ReadySpec | Problem {
  if (value === 'none') return { kind: 'none' };
  if (value === 'port') return { kind: 'port' };
  if (value === 'http') return { kind: 'http', path: '/' };
  if (value.startsWith('http:')) {
    const path = value.slice('http:'.length);
    // node:http refuses a request path with spaces or characters outside Latin-1.
    if (!path.startsWith('/') || /[^\u0021-\u00ff]/.test(path)) {
      return {
        problem: `bad HTTP path ${JSON.stringify(path)} in readiness probe ${JSON.stringify(value)}`,
        hint: 'write http:/PATH with a path that starts with "/" and has no spaces, e.g. http:/health',
      };
    }
    return { kind: 'http', path };
  }
  if (value.startsWith('log:')) {
    const text = value.slice('log:'.length);
    if (text === '') return { problem: `readiness probe "log:" has no text to wait for`, hint: 'write log:TEXT, e.g. log:Listening on' };
    if (/[\r\n]/.test(text))
      return { problem: `readiness probe text ${JSON.stringify(text)} spans lines`, hint: 'log:TEXT matches within one line; drop the line break' };
    return { kind: 'log', text };
  }
  return { problem: `unknown readiness probe ${JSON.stringify(value)}`, hint: PROBE_HINT };
}

/** One raw spec and where it came from: `--restart` or `TF_RESTART`, for messages and the error kind. */
export interface RawSpec {
  readonly raw: string;
  readonly source: string;
}

/**
 * The four specs as the command line or TF_* variables gave them (the caller picks the
 * flag over the variable, as for every other option), and tf.yaml when there is one.
 */
export interface PolicyInputs {
  readonly restart?: RawSpec | undefined;
  readonly canDie?: RawSpec | undefined;
  readonly stopSignal?: RawSpec | undefined;
  readonly ready?: RawSpec | undefined;
  readonly file?: TfYaml | undefined;
}

interface Entry {
  readonly type: string;
  /** After `=`, unescaped; undefined for a bare name (can-die's form). */
  readonly value: string | undefined;
  readonly text: string;
}

/**
 * Splits `a=1,b=2` on commas. A comma that belongs to a value is written `\,` and a
 * backslash before a comma `\\`; any other backslash is kept, so `log:C:\app` needs no
 * escaping. Spaces around entries are ignored.
 */
export function splitSpec(raw: string): Entry[] {
  const texts: string[] = [];
  let current = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as string;
    const next = raw[i + 1];
    if (c === '\\' && (next === ',' || next === '\\')) {
      current += next;
      i++;
    } else if (c === ',') {
      texts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  texts.push(current);
  return texts
    .map((t) => t.trim())
    .filter((t) => t !== '')
    .map((text) => {
      const eq = text.indexOf('=');
      return eq === -1 ? { type: text, value: undefined, text } : { type: text.slice(0, eq).trim(), value: text.slice(eq + 1).trim(), text };
    });
}

const kindOf = (source: string): 'usage' | 'option' => (source.startsWith('-') ? 'usage' : 'option');

const typeHint = (types: readonly string[]): string => `types are: ${types.join(', ')} (or all)`;

type Field = 'restart' | 'canDie' | 'stopSignal' | 'ready';

const SHAPES: Record<Field, string> = {
  restart: 'expected TYPE=POLICY, e.g. "web=on-failure,worker=always" or "all=always"',
  canDie: 'expected process type names, e.g. "assets,seed" or "all"',
  stopSignal: 'expected TYPE=SIGNAL, e.g. "worker=QUIT" or "all=INT"',
  ready: 'expected TYPE=PROBE, e.g. "web=http:/health,worker=log:Ready"; write a comma inside log:TEXT as \\,',
};

/** Parses one flag or TF_* spec into values by type name (`all` kept as a name). */
function parseSpec<T>(field: Field, spec: RawSpec, types: readonly string[], parse: (value: string) => T | Problem): Map<string, T> {
  const { source } = spec;
  const kind = kindOf(source);
  const known = new Set(types);
  const values = new Map<string, T>();
  for (const entry of splitSpec(spec.raw)) {
    const bare = field === 'canDie';
    if ((entry.value === undefined) !== bare || entry.type === '') {
      throw new TfError(kind, `bad entry ${JSON.stringify(entry.text)} in ${source}`, { hint: SHAPES[field] });
    }
    if (entry.type === RELEASE_TYPE) {
      throw new TfError(kind, `${RELEASE_TYPE} in ${source} is the release phase, not a process: no policy applies to it`, {
        hint: `drop it; ${typeHint(types)}`,
      });
    }
    if (entry.type !== 'all' && !known.has(entry.type)) {
      throw new TfError(kind, `unknown process type ${JSON.stringify(entry.type)} in ${source}`, { hint: typeHint(types) });
    }
    if (values.has(entry.type)) {
      throw new TfError(kind, `${entry.type} is given twice in ${source}`, { hint: 'keep one entry per type' });
    }
    const value = parse(entry.value ?? '');
    if (isProblem(value)) throw new TfError(kind, `${value.problem} for ${entry.type} in ${source}`, { hint: value.hint });
    values.set(entry.type, value);
  }
  return values;
}

const fromFile = <K extends keyof TfYamlSettings>(file: TfYaml | undefined, type: string, key: K): TfYamlSettings[K] | undefined =>
  file?.types.get(type)?.[key] ?? file?.types.get('all')?.[key];

/**
 * The policy of every type. Per field and type, the first that says something wins: the
 * flag or TF_* spec (its entry for the type, then its `all`), tf.yaml (the type's block,
 * then its `all` block), then foreman's default. So a command-line `all=` beats tf.yaml,
 * and within one source a named type beats `all`.
 */
export function resolvePolicies(types: readonly string[], inputs: PolicyInputs): ReadonlyMap<string, TypePolicy> {
  const restart = inputs.restart === undefined ? undefined : parseSpec('restart', inputs.restart, types, parseRestartPolicy);
  const canDie = inputs.canDie === undefined ? undefined : parseSpec('canDie', inputs.canDie, types, () => true);
  const stopSignal = inputs.stopSignal === undefined ? undefined : parseSpec('stopSignal', inputs.stopSignal, types, parseStopSignal);
  const ready = inputs.ready === undefined ? undefined : parseSpec('ready', inputs.ready, types, parseReadySpec);
  const { file } = inputs;
  const pick = <T>(spec: Map<string, T> | undefined, type: string): T | undefined => spec?.get(type) ?? spec?.get('all');

  const policies = new Map<string, TypePolicy>();
  for (const type of types) {
    const base = defaultPolicy(type);
    policies.set(
      type,
      Object.freeze({
        restart: pick(restart, type) ?? fromFile(file, type, 'restart')?.value ?? base.restart,
        canDie: pick(canDie, type) ?? fromFile(file, type, 'canDie')?.value ?? base.canDie,
        stopSignal: pick(stopSignal, type) ?? fromFile(file, type, 'stopSignal')?.value ?? base.stopSignal,
        ready: pick(ready, type) ?? fromFile(file, type, 'ready')?.value ?? base.ready,
      }),
    );
  }
  return policies;
}

/** `http:/health`, `log:Ready` ...: a probe as the user writes it, for messages and `tf check`. */
export function describeReadySpec(spec: ReadySpec): string {
  switch (spec.kind) {
    case 'none':
    case 'port':
      return spec.kind;
    case 'http':
      return spec.path === '/' ? 'http' : `http:${spec.path}`;
    case 'log':
      return `log:${spec.text}`;
  }
}

/** `restart=on-failure can-die stop=SIGINT ready=http:/health`: one type's policy on one line, for `tf check`. */
export function describePolicy(policy: TypePolicy): string {
  return [`restart=${policy.restart}`, ...(policy.canDie ? ['can-die'] : []), `stop=${policy.stopSignal}`, `ready=${describeReadySpec(policy.ready)}`].join(
    ' ',
  );
}
