import { lstatSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { RELEASE_TYPE, type Config, type Env, type Procfile, type Warning } from '../domain.js';
import { TfError } from '../errors.js';
import { decryptEnvFiles, loadSecretKeys } from './decrypt-env.js';
import { withoutKeys } from './keys.js';
import { parseEnvFile, resolveEnv, type ParsedEnvFile } from './env.js';
import { gapsOf, lateSettings } from './env-gaps.js';
import { resolveFormation } from './formation.js';
import { appPaths } from './paths.js';
import { resolvePolicies, type RawSpec } from './policies.js';
import { parseProcfile } from './procfile.js';
import { loadTfYamlBeside } from './tfyaml.js';
import { decodeConfigText, readConfigFile, type ConfigFile } from './read.js';

/**
 * What config reads from the command line. The field names are the CLI's, so that its
 * parsed options can be passed as they are; config never depends on how they were parsed.
 */
export interface ConfigOptions {
  readonly procfile: string | undefined;
  readonly root: string | undefined;
  readonly envFiles: readonly string[];
  readonly envName: string | undefined;
  readonly envOverride: boolean;
  readonly formation: string | undefined;
  /** `--formation` or `TF_FORMATION`, for messages. */
  readonly formationSource: string;
  readonly port: number | undefined;
  readonly portStep: number;
  /** Policy specs per type, each with the flag or variable it came from; tf.yaml fills the rest. */
  readonly restart?: RawSpec | undefined;
  readonly canDie?: RawSpec | undefined;
  readonly stopSignal?: RawSpec | undefined;
  readonly ready?: RawSpec | undefined;
}

/** Where config is read from; tests pass their own. */
export interface ConfigSources {
  readonly cwd: string;
  readonly shellEnv: Env;
}

export interface ConfigRequest {
  readonly options: ConfigOptions;
  /** Types named on the command line (`tf start web`). */
  readonly only?: readonly string[];
  /** `tf run` works without a Procfile unless one was named explicitly. */
  readonly procfileOptional?: boolean;
}

/** Paths relative to the current directory are shown as typed; others relative to it when inside. */
const display = (cwd: string, file: string): string => {
  const relative = path.relative(cwd, file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
};

function readText(file: ConfigFile): string | undefined {
  const bytes = readConfigFile(file);
  return bytes === undefined ? undefined : decodeConfigText(bytes, file);
}

interface EnvFileChoice {
  readonly file: string;
  readonly required: boolean;
  /** How the user chose it, for the hint of an error about it. */
  readonly hint: string;
}

/** The named environments that exist: `.env.NAME` and `.env.NAME.local` files in the root. */
function environmentsIn(root: string): string[] {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  const found = new Set<string>();
  for (const name of names) {
    const match = /^\.env\.(.+?)(?:\.local)?$/.exec(name);
    if (match?.[1] !== undefined && match[1] !== 'local') found.add(match[1]);
  }
  return [...found].sort();
}

/** There is an entry of that name (a link whose target is missing too: reading it says so). */
const exists = (file: string): boolean => {
  try {
    lstatSync(file);
    return true;
  } catch {
    return false;
  }
};

function envFileList(options: ConfigOptions, cwd: string, root: string): EnvFileChoice[] {
  const rootHint = (f: string): string => `the app root's ${f} must be a readable file; fix or remove it`;
  let named: EnvFileChoice[] = [];
  if (options.envName !== undefined) {
    const own = [`.env.${options.envName}`, `.env.${options.envName}.local`];
    if (!own.some((f) => exists(path.join(root, f)))) {
      const known = environmentsIn(root);
      throw new TfError('envfile', `no environment "${options.envName}": neither ${own.join(' nor ')} exists in ${display(cwd, root) || '.'}`, {
        hint: known.length === 0 ? 'create one of them, or drop --env' : `environments here: ${known.join(', ')}`,
      });
    }
    named = ['.env', '.env.local', ...own].map((f) => ({ file: path.join(root, f), required: false, hint: rootHint(f) }));
  }
  const explicit = options.envFiles.map((f) => ({ file: path.resolve(cwd, f), required: true, hint: 'check the path given with -e/--env-file' }));
  if (named.length > 0 || explicit.length > 0) return [...named, ...explicit];
  // The developer's own layer is read too, as with --env: a `tf env set --local` always takes effect.
  return ['.env', '.env.local'].map((f) => ({ file: path.join(root, f), required: false, hint: rootHint(f) }));
}

/**
 * A root that exists must be a directory: every process runs in it. A missing one is left to
 * fail at spawn, per instance, like any other cwd that vanished.
 */
function checkRoot(root: string, shown: string): void {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(root).isDirectory();
  } catch {
    return;
  }
  if (!isDirectory)
    throw new TfError('option', `app root ${shown} is not a directory`, { hint: "-d/--root takes the app's directory; pass a Procfile with -f PATH" });
}

/** Reads and validates everything `start`, `run` and `check` need. The only reader of config files. */
export function loadConfig(request: ConfigRequest, sources: ConfigSources): Config {
  const { options } = request;
  const { cwd } = sources;
  const { root, procfile: procfilePath, rootGiven } = appPaths(options, cwd);
  const procfileShown = display(cwd, procfilePath);
  if (rootGiven) checkRoot(root, display(cwd, root) || '.');

  const procfileText = readText({ path: procfilePath, shown: procfileShown, kind: 'procfile', hint: 'pass the right file with -f PATH' });
  let procfile: Procfile;
  if (procfileText === undefined) {
    if (!(request.procfileOptional === true && options.procfile === undefined)) {
      throw new TfError('procfile', 'no such file', { file: procfileShown, hint: 'create one or pass another with -f PATH' });
    }
    procfile = { path: procfileShown, types: [] };
  } else {
    procfile = parseProcfile(procfileText, procfileShown);
  }

  const warnings: Warning[] = [];
  const parsed: ParsedEnvFile[] = [];
  const envFiles: string[] = [];
  for (const { file, required, hint } of envFileList(options, cwd, root)) {
    const shown = display(cwd, file);
    const text = readText({ path: file, shown, kind: 'envfile', hint });
    if (text === undefined) {
      if (required) throw new TfError('envfile', 'no such env file', { file: shown, hint });
      continue;
    }
    const env = parseEnvFile({ file: shown, text });
    warnings.push(...env.warnings);
    parsed.push(env);
    envFiles.push(shown);
  }
  // Secrets are decrypted before layering (a value may refer to one), and TF_KEY_* never reaches a child.
  const decrypted = decryptEnvFiles(parsed, loadSecretKeys(root, sources.shellEnv, cwd));
  const { env, origins, shadowed, definitions, secretKeys } = resolveEnv(withoutKeys(sources.shellEnv), decrypted.files, options.envOverride);

  let basePort = options.port;
  if (basePort === undefined && env.PORT !== undefined && env.PORT !== '') {
    const fromEnv = Number(env.PORT);
    if (!/^\d+$/.test(env.PORT) || fromEnv < 1 || fromEnv > 65535) {
      // Named with where it came from, never echoed: the same rule as every other value.
      const origin = origins.get('PORT');
      const where = origin?.kind === 'file' ? `from ${origin.file}:${origin.line}` : 'from the shell environment';
      throw new TfError('option', `PORT ${where} is not a port number (1-65535)`, { hint: 'set it to a whole number from 1 to 65535, or pass -p N' });
    }
    basePort = fromEnv;
  }

  const formation =
    procfile.types.length === 0
      ? new Map<string, number>()
      : resolveFormation(procfile.types, { spec: options.formation, source: options.formationSource, only: request.only ?? [] });

  // The release entry runs once, as the release phase: no policy or tf.yaml block is for it.
  const names = procfile.types.map((t) => t.name).filter((name) => name !== RELEASE_TYPE);
  const tfYaml = names.length === 0 ? undefined : loadTfYamlBeside(procfilePath, procfileShown, names);
  const policies = resolvePolicies(names, {
    restart: options.restart,
    canDie: options.canDie,
    stopSignal: options.stopSignal,
    ready: options.ready,
    file: tfYaml,
  });

  return Object.freeze({
    root,
    procfile,
    env,
    envFiles,
    envOrigins: origins,
    secretKeys,
    shadowed,
    envDefinitions: definitions,
    envGaps: gapsOf(decrypted.files),
    envSetLate: lateSettings(decrypted.files),
    formation,
    basePort: basePort ?? 5000,
    portStep: options.portStep,
    policies,
    tfYaml: tfYaml?.file,
    warnings,
  });
}
