import { parseArgs } from 'node:util';
import { TfError, usageError } from '../errors.js';

/** tf's own options, resolved from flags, then TF_* variables, then defaults. */
export interface Options {
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
  readonly timeoutMs: number;
  /** undefined: decide from the terminal and NO_COLOR / FORCE_COLOR. */
  readonly color: boolean | undefined;
  readonly timestamp: boolean;
  readonly json: boolean;
}

export type CommandName = 'start' | 'run' | 'check' | 'help' | 'version';

export interface Invocation {
  readonly command: CommandName;
  readonly options: Options;
  /** start: type names; run: the command and its arguments; help: the topic. */
  readonly rest: readonly string[];
  readonly help: boolean;
}

interface OptionSpec {
  readonly flag: string;
  readonly short?: string;
  readonly env?: string;
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  readonly arg?: string;
  readonly help: string;
}

/** The single table behind parsing, TF_* fallbacks and `--help`. */
export const OPTION_SPECS: readonly OptionSpec[] = [
  { flag: 'procfile', short: 'f', env: 'TF_PROCFILE', type: 'string', arg: 'PATH', help: 'Procfile to read (default: ./Procfile, or ROOT/Procfile with --root)' },
  { flag: 'root', short: 'd', env: 'TF_ROOT', type: 'string', arg: 'DIR', help: "app root and every process's working directory (default: the Procfile's directory)" },
  { flag: 'env-file', short: 'e', env: 'TF_ENV_FILE', type: 'string', multiple: true, arg: 'PATH', help: 'env file to load instead of .env; repeat or separate with commas, later files win' },
  { flag: 'env', env: 'TF_ENV', type: 'string', arg: 'NAME', help: 'named environment: loads .env, .env.local, .env.NAME, .env.NAME.local' },
  { flag: 'env-override', env: 'TF_ENV_OVERRIDE', type: 'boolean', help: 'let env files win over the shell environment (default: the shell wins)' },
  { flag: 'formation', short: 'm', env: 'TF_FORMATION', type: 'string', arg: 'SPEC', help: 'instances per type, e.g. all=1,web=2,worker=0 (default: one of each)' },
  { flag: 'port', short: 'p', env: 'TF_PORT', type: 'string', arg: 'N', help: 'base port (default: PORT from the environment, else 5000)' },
  { flag: 'port-step', env: 'TF_PORT_STEP', type: 'string', arg: 'N', help: 'port distance between process types (default: 100)' },
  { flag: 'timeout', short: 't', env: 'TF_TIMEOUT', type: 'string', arg: 'SECONDS', help: 'grace period between SIGTERM and SIGKILL (default: 5)' },
  { flag: 'color', env: 'TF_COLOR', type: 'boolean', help: 'force colour on (default: on when stdout is a terminal)' },
  { flag: 'no-color', type: 'boolean', help: 'force colour off (NO_COLOR and FORCE_COLOR are honoured too)' },
  { flag: 'no-timestamp', env: 'TF_TIMESTAMP', type: 'boolean', help: 'drop the HH:MM:SS column (TF_TIMESTAMP=0)' },
  { flag: 'json', env: 'TF_JSON', type: 'boolean', help: 'one JSON object per line (pino format) instead of prefixed text' },
  { flag: 'help', short: 'h', type: 'boolean', help: 'show help' },
  { flag: 'version', short: 'v', type: 'boolean', help: 'print the version' },
];

const COMMANDS: readonly CommandName[] = ['start', 'run', 'check', 'help', 'version'];

type Env = Readonly<Record<string, string | undefined>>;

const TRUE = new Set(['1', 'true', 'yes', 'on', 'always']);
const FALSE = new Set(['0', 'false', 'no', 'off', 'never', '']);

function envBoolean(env: Env, name: string): boolean | undefined {
  const raw = env[name];
  if (raw === undefined) return undefined;
  const value = raw.trim().toLowerCase();
  if (TRUE.has(value)) return true;
  if (FALSE.has(value)) return false;
  throw new TfError('option', `${name}=${JSON.stringify(raw)} is not a boolean`, { hint: 'use 1 or 0 (true/false, yes/no, on/off)' });
}

function number(raw: string, source: string, kind: 'port' | 'seconds'): number {
  const value = Number(raw);
  const ok =
    raw.trim() !== '' &&
    Number.isFinite(value) &&
    (kind === 'seconds' ? value >= 0 : Number.isInteger(value) && value >= 1 && value <= 65535);
  if (!ok) {
    const expected = kind === 'seconds' ? 'a number of seconds >= 0, e.g. 5 or 0.5' : 'a whole number from 1 to 65535';
    throw new TfError(source.startsWith('-') ? 'usage' : 'option', `bad value ${JSON.stringify(raw)} for ${source}`, { hint: `expected ${expected}` });
  }
  return value;
}

/** Splits argv into the command, tf's options and the rest, without touching `tf run`'s command. */
function splitArgv(argv: readonly string[]): { command: CommandName; own: string[]; rest: string[] } {
  const valueFlags = new Set<string>();
  for (const spec of OPTION_SPECS) {
    if (spec.type === 'string') {
      valueFlags.add(`--${spec.flag}`);
      if (spec.short !== undefined) valueFlags.add(`-${spec.short}`);
    }
  }
  let command: CommandName | undefined;
  const own: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] ?? '';
    if (command === 'run' && rest.length > 0) {
      rest.push(token);
    } else if (token === '--') {
      rest.push(...argv.slice(i + 1));
      break;
    } else if (token.startsWith('-') && token !== '-') {
      own.push(token);
      if (valueFlags.has(token) && i + 1 < argv.length) own.push(argv[++i] ?? '');
    } else if (command === undefined) {
      if (!(COMMANDS as readonly string[]).includes(token)) {
        throw usageError(`unknown command "${token}"`, `commands are: start, run, check; see "tf --help"`);
      }
      command = token as CommandName;
    } else {
      rest.push(token);
    }
  }
  return { command: command ?? 'help', own, rest };
}

export function parseInvocation(argv: readonly string[], env: Env): Invocation {
  const { command, own, rest } = splitArgv(argv);
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const spec of OPTION_SPECS) {
    options[spec.flag] = { type: spec.type, ...(spec.short === undefined ? {} : { short: spec.short }), ...(spec.multiple ? { multiple: true } : {}) };
  }
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    values = parseArgs({ args: own, options, strict: true, allowPositionals: false }).values as typeof values;
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] ?? '' : String(error);
    throw usageError(message.replace(/\.$/, '').replace(/^Option '(.*?)' argument missing$/, "option '$1' needs a value").replace(/^Unknown option/, 'unknown option'), 'see "tf --help"');
  }
  const str = (flag: string): string | undefined => values[flag] as string | undefined;
  const flagOrEnv = (flag: string, name: string): { raw: string; source: string } | undefined => {
    const raw = str(flag);
    if (raw !== undefined) return { raw, source: `--${flag}` };
    const fromEnv = env[name];
    return fromEnv === undefined || fromEnv === '' ? undefined : { raw: fromEnv, source: name };
  };

  const envFilesFlag = values['env-file'] as string[] | undefined;
  const envFilesRaw = envFilesFlag ?? (env.TF_ENV_FILE ? [env.TF_ENV_FILE] : []);
  const envFiles = envFilesRaw.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');

  const port = flagOrEnv('port', 'TF_PORT');
  const step = flagOrEnv('port-step', 'TF_PORT_STEP');
  const timeout = flagOrEnv('timeout', 'TF_TIMEOUT');
  const formation = flagOrEnv('formation', 'TF_FORMATION');

  if (values.color === true && values['no-color'] === true) throw usageError('--color and --no-color contradict each other', 'pass one of them');
  const color = values.color === true ? true : values['no-color'] === true ? false : envBoolean(env, 'TF_COLOR');
  const timestamp = values['no-timestamp'] === true ? false : envBoolean(env, 'TF_TIMESTAMP') ?? true;

  const envName = flagOrEnv('env', 'TF_ENV');
  if (envName !== undefined && !/^[\w.-]+$/.test(envName.raw)) {
    throw new TfError(envName.source.startsWith('-') ? 'usage' : 'option', `bad environment name ${JSON.stringify(envName.raw)} in ${envName.source}`, {
      hint: 'use letters, digits, ".", "_" and "-", e.g. dev, ci, prod',
    });
  }

  const resolved: Options = {
    procfile: flagOrEnv('procfile', 'TF_PROCFILE')?.raw,
    root: flagOrEnv('root', 'TF_ROOT')?.raw,
    envFiles,
    envName: envName?.raw,
    envOverride: values['env-override'] === true || (envBoolean(env, 'TF_ENV_OVERRIDE') ?? false),
    formation: formation?.raw,
    formationSource: formation?.source ?? '--formation',
    port: port === undefined ? undefined : number(port.raw, port.source, 'port'),
    portStep: step === undefined ? 100 : number(step.raw, step.source, 'port'),
    timeoutMs: timeout === undefined ? 5000 : number(timeout.raw, timeout.source, 'seconds') * 1000,
    color,
    timestamp,
    json: values.json === true || (envBoolean(env, 'TF_JSON') ?? false),
  };
  const version = values.version === true;
  return { command: version ? 'version' : command, options: resolved, rest, help: values.help === true };
}
