import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Config, Env, Procfile, Warning } from '../domain.js';
import { TfError } from '../errors.js';
import type { Options } from '../cli/args.js';
import { parseEnvFile, resolveEnv, type ParsedEnvFile } from './env.js';
import { resolveFormation } from './formation.js';
import { parseProcfile } from './procfile.js';

/** Where config is read from; tests pass their own. */
export interface ConfigSources {
  readonly cwd: string;
  readonly shellEnv: Env;
}

export interface ConfigRequest {
  readonly options: Options;
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

function readText(file: string, shown: string, kind: 'procfile' | 'envfile', hint: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    const what = code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'is not readable (permission denied)' : `cannot be read (${code ?? String(error)})`;
    throw new TfError(kind, `${what}`, { file: shown, hint, cause: error });
  }
}

function envFileList(options: Options, cwd: string, root: string): { file: string; required: boolean }[] {
  const named =
    options.envName === undefined
      ? []
      : ['.env', '.env.local', `.env.${options.envName}`, `.env.${options.envName}.local`].map((f) => ({ file: path.join(root, f), required: false }));
  const explicit = options.envFiles.map((f) => ({ file: path.resolve(cwd, f), required: true }));
  if (named.length > 0 || explicit.length > 0) return [...named, ...explicit];
  return [{ file: path.join(root, '.env'), required: false }];
}

/** Reads and validates everything `start`, `run` and `check` need. The only reader of config files. */
export function loadConfig(request: ConfigRequest, sources: ConfigSources): Config {
  const { options } = request;
  const { cwd } = sources;
  const rootFromFlag = options.root === undefined ? undefined : path.resolve(cwd, options.root);
  const procfilePath = options.procfile !== undefined ? path.resolve(cwd, options.procfile) : path.join(rootFromFlag ?? cwd, 'Procfile');
  const root = rootFromFlag ?? path.dirname(procfilePath);
  const procfileShown = display(cwd, procfilePath);

  const procfileText = readText(procfilePath, procfileShown, 'procfile', 'pass the right file with -f PATH');
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
  for (const { file, required } of envFileList(options, cwd, root)) {
    const shown = display(cwd, file);
    const text = readText(file, shown, 'envfile', 'check the path given with -e/--env-file');
    if (text === undefined) {
      if (required) throw new TfError('envfile', 'no such env file', { file: shown, hint: 'check the path given with -e/--env-file' });
      continue;
    }
    const env = parseEnvFile({ file: shown, text });
    warnings.push(...env.warnings);
    parsed.push(env);
    envFiles.push(shown);
  }
  const env = resolveEnv(sources.shellEnv, parsed, options.envOverride);

  let basePort = options.port;
  if (basePort === undefined && env.PORT !== undefined && env.PORT !== '') {
    const fromEnv = Number(env.PORT);
    if (!Number.isInteger(fromEnv) || fromEnv < 1 || fromEnv > 65535) {
      throw new TfError('option', `PORT=${JSON.stringify(env.PORT)} in the environment is not a port`, { hint: 'set it to a whole number from 1 to 65535, or pass -p N' });
    }
    basePort = fromEnv;
  }

  const formation =
    procfile.types.length === 0
      ? new Map<string, number>()
      : resolveFormation(procfile.types, { spec: options.formation, source: options.formationSource, only: request.only ?? [] });

  return Object.freeze({
    root,
    procfile,
    env,
    envFiles,
    formation,
    basePort: basePort ?? 5000,
    portStep: options.portStep,
    warnings,
  });
}
