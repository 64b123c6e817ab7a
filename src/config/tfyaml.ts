import path from 'node:path';
import type { Document, Node, Pair, Scalar, YAMLMap } from 'yaml';
import { loadYaml as yaml } from '../host/yaml.js';

const isAlias: typeof import('yaml')['isAlias'] = (node) => yaml().isAlias(node);
const isMap = (node: unknown): node is YAMLMap => yaml().isMap(node);
const isScalar = (node: unknown): node is Scalar => yaml().isScalar(node);
import { RELEASE_TYPE, type ReadySpec, type RestartPolicy } from '../domain.js';
import { TfError } from '../errors.js';
import { decodeConfigText, MAX_CONFIG_BYTES, readConfigFile } from './read.js';
import { parseReadySpec, parseRestartPolicy, parseStopSignal, type Problem } from './policies.js';

/**
 * tf.yaml: the policies a team commits beside its Procfile, one block per process type
 * (or `all`), keys spelled as in docker compose (`stop_signal`, `can_die`):
 *
 *     web:
 *       ready: http:/health
 *       stop_signal: INT
 *     worker:
 *       restart: on-failure
 *
 * Values use the words of the matching flags; one value per key, so a `log:` text is
 * taken verbatim (commas included, no escaping). Flags and TF_* variables override it.
 */

export const TF_YAML = 'tf.yaml';

/** Largest tf.yaml read: it holds a few lines per type, so a bigger file is a mistake. */
export const TF_YAML_MAX_BYTES = MAX_CONFIG_BYTES;

/** A value and the line it was written on, so later checks can still point at it. */
export interface Located<T> {
  readonly value: T;
  readonly line: number;
}

export interface TfYamlSettings {
  readonly restart?: Located<RestartPolicy>;
  readonly canDie?: Located<boolean>;
  readonly stopSignal?: Located<NodeJS.Signals>;
  readonly ready?: Located<ReadySpec>;
}

export interface TfYaml {
  /** As shown to the user. */
  readonly file: string;
  /** By type name; `all` applies to types without their own setting. */
  readonly types: ReadonlyMap<string, TfYamlSettings>;
}

type Key = keyof TfYamlSettings;

const KEYS: Readonly<Record<string, Key>> = { restart: 'restart', can_die: 'canDie', stop_signal: 'stopSignal', ready: 'ready' };
const KEY_LIST = 'restart, can_die, stop_signal, ready';

const quoted = JSON.stringify;

class Reader {
  private readonly lines = new (yaml().LineCounter)();
  private readonly doc: Document.Parsed;

  constructor(
    text: string,
    private readonly file: string,
  ) {
    this.doc = yaml().parseDocument(text.replace(/^\uFEFF/, ''), { lineCounter: this.lines, uniqueKeys: false, prettyErrors: false });
  }

  lineAt(offset: number | undefined): number {
    return this.lines.linePos(offset ?? 0).line;
  }

  /** The node's line, or `fallback` for a value the parser made up (an empty value has no place of its own). */
  lineOf(node: unknown, fallback = 1): number {
    const start = (node as Node | null | undefined)?.range?.[0];
    return start === undefined ? fallback : this.lineAt(start);
  }

  fail(line: number, message: string, hint: string): TfError {
    return new TfError('option', message, { file: this.file, line, hint });
  }

  /** Syntax errors, and the warnings too: an unknown tag or directive would otherwise change a value silently. */
  syntaxErrors(): void {
    const error = this.doc.errors[0] ?? this.doc.warnings[0];
    if (error === undefined) return;
    const hint =
      error.code === 'BLOCK_AS_IMPLICIT_KEY'
        ? 'quote a value that contains ": ", e.g. ready: "log:Listening on: 5000"'
        : error.code === 'MULTIPLE_DOCS'
          ? 'keep one document: remove the "---" separator'
          : error.code === 'TAG_RESOLVE_FAILED'
            ? 'remove the tag: values are plain text, numbers or true/false'
            : 'fix the YAML syntax';
    const message = error.code === 'MULTIPLE_DOCS' ? 'more than one document' : error.message.replace(/ at line \d+, column \d+:[\s\S]*$/, '');
    throw this.fail(this.lineAt(error.pos[0]), `invalid YAML: ${message}`, hint);
  }

  /** Follows an alias (`*defaults`) to the node it names. */
  resolve(node: unknown): unknown {
    return isAlias(node) ? node.resolve(this.doc) : node;
  }

  get contents(): unknown {
    return this.doc.contents;
  }

  /** A mapping's pairs with string keys, refusing duplicates and other key types. */
  pairs(map: { items: Pair[] }, what: string): { key: string; line: number; value: unknown }[] {
    const seen = new Map<string, number>();
    return map.items.map((pair) => {
      const keyNode = this.resolve(pair.key);
      const line = this.lineOf(keyNode, this.lineOf(pair.value));
      if (!isScalar(keyNode) || typeof keyNode.value !== 'string') {
        const shown = isScalar(keyNode) ? String(keyNode.value) : 'a non-text key';
        throw this.fail(line, `${what} has key ${quoted(shown)}, which is not a name`, 'keys are plain names such as web or restart');
      }
      const key = keyNode.value;
      const first = seen.get(key);
      if (first !== undefined) throw this.fail(line, `duplicate key ${quoted(key)} in ${what} (first on line ${first})`, 'keep one of them');
      seen.set(key, line);
      return { key, line, value: this.resolve(pair.value) };
    });
  }
}

/** What each key takes, for the message when a value has the wrong YAML type. */
const EXPECTED: Readonly<Record<Key, { readonly what: string; readonly example: string }>> = {
  restart: { what: 'no, on-failure or always', example: 'on-failure' },
  canDie: { what: 'true or false', example: 'true' },
  stopSignal: { what: 'a signal name or number', example: 'INT' },
  ready: { what: 'a probe (port, http, http:/PATH, log:TEXT or none)', example: 'http:/health' },
};

const shapeOf = (node: unknown): string =>
  isMap(node)
    ? 'a mapping'
    : node === null || node === undefined || (isScalar(node) && node.value === null)
      ? 'nothing'
      : isScalar(node)
        ? 'a value'
        : 'a list';

function setting(reader: Reader, key: Key, name: string, type: string, node: unknown, keyLine: number): Located<unknown> {
  const line = reader.lineOf(node, keyLine);
  const expected = EXPECTED[key];
  if (!isScalar(node) || node.value === null || typeof node.value === 'object') {
    throw reader.fail(
      line,
      `${name} for ${type} must be ${expected.what}, got ${shapeOf(node)}`,
      `write one value after the key, e.g. "${name}: ${expected.example}"`,
    );
  }
  const value = node.value as string | number | boolean;
  if (key === 'canDie') {
    if (typeof value !== 'boolean')
      throw reader.fail(line, `${name} for ${type} must be true or false, got ${quoted(String(value))}`, `write "${name}: true" or "${name}: false"`);
    return { value, line };
  }
  if (typeof value === 'boolean') {
    // YAML 1.1 reads a bare `no` as false; name the fix rather than a confusing "false".
    throw reader.fail(
      line,
      `${name} for ${type} must be ${expected.what}, got ${String(value)}`,
      `quote the value, e.g. ${name}: "${key === 'restart' ? 'no' : expected.example}"`,
    );
  }
  const parsed: unknown | Problem =
    key === 'restart' ? parseRestartPolicy(String(value)) : key === 'stopSignal' ? parseStopSignal(String(value)) : parseReadySpec(String(value));
  if (typeof parsed === 'object' && parsed !== null && 'problem' in parsed) {
    const problem = parsed as Problem;
    throw reader.fail(line, `${problem.problem} for ${type}`, problem.hint);
  }
  return { value: parsed, line };
}

/**
 * Parses tf.yaml's text. Pure: `file` is only for messages, `types` are the Procfile's
 * type names. Every error is a TfError naming `file:LINE` and the fix.
 */
export function parseTfYaml(text: string, file: string, types: readonly string[]): TfYaml {
  const reader = new Reader(text, file);
  reader.syntaxErrors();
  const root = reader.resolve(reader.contents);
  const result = new Map<string, TfYamlSettings>();
  if (root === null || (isScalar(root) && root.value === null)) return { file, types: result };
  if (!isMap(root)) {
    throw reader.fail(
      reader.lineOf(root),
      'expected one block per process type, e.g. "web:" followed by indented settings',
      `types are: ${types.join(', ')} (or all)`,
    );
  }
  const known = new Set(types);
  for (const entry of reader.pairs(root, file)) {
    const type = entry.key;
    if (type === RELEASE_TYPE) {
      throw reader.fail(
        entry.line,
        `${RELEASE_TYPE} is the release phase, not a process: no setting of tf.yaml applies to it`,
        `remove this block; types are: ${types.join(', ')} (or all)`,
      );
    }
    if (type !== 'all' && !known.has(type)) {
      throw reader.fail(entry.line, `unknown process type ${quoted(type)}`, `types are: ${types.join(', ')} (or all)`);
    }
    const block = entry.value;
    // `web:` with nothing under it sets nothing.
    if (block === null || (isScalar(block) && block.value === null)) {
      result.set(type, {});
      continue;
    }
    if (!isMap(block)) {
      throw reader.fail(
        reader.lineOf(block, entry.line),
        `the block of ${type} must hold settings such as "restart: on-failure", got a ${isScalar(block) ? 'value' : 'list'}`,
        `indent its settings under "${type}:"; keys are ${KEY_LIST}`,
      );
    }
    const settings: Record<string, Located<unknown>> = {};
    for (const item of reader.pairs(block, `the block of ${type}`)) {
      const key = KEYS[item.key];
      if (key === undefined) {
        const near =
          item.key === '<<'
            ? 'merge keys are not supported; put shared settings in an "all:" block. '
            : KEYS[item.key.replace(/-/g, '_')] === undefined
              ? ''
              : `did you mean ${quoted(item.key.replace(/-/g, '_'))}? `;
        throw reader.fail(item.line, `unknown key ${quoted(item.key)} for ${type}`, `${near}keys are ${KEY_LIST}`);
      }
      settings[key] = setting(reader, key, item.key, type, item.value, item.line);
    }
    result.set(type, settings as TfYamlSettings);
  }
  return { file, types: result };
}

/** Where tf.yaml lives for a Procfile: beside it. */
export const tfYamlPathFor = (procfilePath: string): string => path.join(path.dirname(procfilePath), TF_YAML);

/**
 * The tf.yaml beside a Procfile, read and validated; undefined when there is none. What
 * `loadConfig` and `tf check` call: `procfileShown` is the Procfile as the user sees it,
 * so tf.yaml is named the same way (`app/tf.yaml:3: ...`).
 */
export const loadTfYamlBeside = (procfilePath: string, procfileShown: string, types: readonly string[]): TfYaml | undefined =>
  readTfYaml(tfYamlPathFor(procfilePath), tfYamlPathFor(procfileShown), types);

/**
 * Reads and parses tf.yaml at `file` (shown to the user as `shown`); undefined when there
 * is none. The same call validates it for `tf check`. Read like every config file: only a
 * regular UTF-8 file of at most 1 MiB (read.ts).
 */
export function readTfYaml(file: string, shown: string, types: readonly string[]): TfYaml | undefined {
  const source = { path: file, shown, kind: 'option' as const, hint: `make ${TF_YAML} a plain UTF-8 file of a few settings per process type, or remove it` };
  const bytes = readConfigFile(source);
  return bytes === undefined ? undefined : parseTfYaml(decodeConfigText(bytes, source), shown, types);
}
