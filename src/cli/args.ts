import { TfError, usageError } from '../errors.js';
import type { ConfigOptions } from '../config/load.js';

/** A value as the user gave it, before any command parses it; `source` names the flag or variable, for messages. */
export interface RawOption {
  readonly raw: string;
  /** `--restart` or `TF_RESTART`. */
  readonly source: string;
}

/** tf's own options, resolved from flags, then TF_* variables, then defaults; config reads its part as they are. */
export interface Options extends ConfigOptions {
  readonly timeoutMs: number;
  /** undefined: decide from the terminal and NO_COLOR / FORCE_COLOR. */
  readonly color: boolean | undefined;
  readonly timestamp: boolean;
  readonly json: boolean;
  /** Keep each process's stderr in a pipe of its own (its lines then lose their order against stdout's). */
  readonly splitStderr: boolean;
  /** `TYPE=POLICY,...` (all= allowed); parsed by the restart policy's own parser. */
  readonly restart: RawOption | undefined;
  /** Process types whose exit does not stop the others. */
  readonly canDie: RawOption | undefined;
  readonly stopSignal: RawOption | undefined;
  readonly ready: RawOption | undefined;
  /** The control socket's path. */
  readonly socket: RawOption | undefined;
  /** `--wait-timeout` in ms, undefined when not given (each command has its own default). */
  readonly waitTimeoutMs: number | undefined;
  /** logs: how many lines of history. */
  readonly lines: RawOption | undefined;
  /** logs: keep printing new lines. */
  readonly follow: boolean;
  /** run: the process types to start (and wait for) before the command, `web,worker`. */
  readonly with: RawOption | undefined;
  /** start, run: backing services (`DATABASE_URL,REDIS_URL`) to wait for before spawning. */
  readonly wait: RawOption | undefined;
  /** run: swap each NAME_URL for its NAME_READONLY_URL. */
  readonly readOnly: boolean;
  /** run --read-only: resources left writable. */
  readonly allowWrite: readonly string[];
  /** env: show secret values instead of masking them. */
  readonly reveal: boolean;
  /** env set/unset, secrets set, services add/remove: the developer's own `.local` layer. */
  readonly local: boolean;
  /** env set: store the value encrypted. */
  readonly secret: boolean;
  /** services: connect to each resource. */
  readonly probe: boolean;
  /** start: run the Procfile's release entry to completion first. */
  readonly releasePhase: boolean;
  /** export: the app's name in units and objects. */
  readonly app: string | undefined;
  /** export: where `app` came from (`--app` or `TF_APP`), which decides whether a bad one is a usage error. */
  readonly appSource?: string | undefined;
  /** export systemd: user units. */
  readonly user: boolean;
  /** export systemd: the account system units run their processes as (User=). */
  readonly runAs: string | undefined;
  /** export kubernetes and compose: the image. */
  readonly image: string | undefined;
  /** Where `image` came from, `--image` or `TF_IMAGE`: a format that takes none refuses only the flag. */
  readonly imageSource?: string | undefined;
  /** export: secret keys with empty values. */
  readonly noSecrets: boolean;
  /** export: overwrite files tf did not write. */
  readonly force: boolean;
}

export type CommandName =
  | 'start'
  | 'run'
  | 'check'
  | 'release'
  | 'releases'
  | 'export'
  | 'env'
  | 'secrets'
  | 'services'
  | 'ps'
  | 'restart'
  | 'stop'
  | 'scale'
  | 'logs'
  | 'signal'
  | 'help'
  | 'version';

export interface Invocation {
  readonly command: CommandName;
  /** False for a bare `tf` (or options without a command): a usage error, unless --help or --version. */
  readonly commandGiven: boolean;
  readonly options: Options;
  /** start/check: type names; run: the command and its arguments; help: the topic; control commands: their operands. */
  readonly rest: readonly string[];
  readonly help: boolean;
}

/** Commands a user names on the command line, in the order help lists them. */
export const COMMANDS: readonly CommandName[] = [
  'start',
  'run',
  'check',
  'release',
  'releases',
  'export',
  'env',
  'secrets',
  'services',
  'ps',
  'restart',
  'stop',
  'scale',
  'logs',
  'signal',
  'help',
  'version',
];

/** The commands that talk to a running `tf start` through its control socket. */
export const CONTROL_COMMANDS: readonly CommandName[] = ['ps', 'restart', 'stop', 'scale', 'logs', 'signal'];

interface OptionSpec {
  readonly flag: string;
  readonly short?: string;
  readonly env?: string;
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  readonly arg?: string;
  readonly help: string;
  /** The commands that use it; giving it to another command is a usage error. */
  readonly commands: readonly CommandName[] | 'all';
}

/** Where the app is: every command that reads the Procfile or finds a running tf by it. */
const LOCATE: readonly CommandName[] = ['start', 'run', 'check', 'release', 'releases', 'export', 'env', 'secrets', 'services', ...CONTROL_COMMANDS];
/** The environment and ports a process gets. */
const CONFIG: readonly CommandName[] = ['start', 'run', 'check', 'release', 'export', 'env', 'services'];
/** How start runs the instances: check validates these without running anything; run uses them with --with. */
const POLICY: readonly CommandName[] = ['start', 'run', 'check', 'export'];
/** How output looks, for the commands that print process output (run: its services' output, with --with). */
const SHOW: readonly CommandName[] = ['start', 'run', 'release', 'logs'];
/** The commands that find a running tf start's socket (start: where it listens). */
const JSON_OUT: readonly CommandName[] = ['start', ...CONTROL_COMMANDS];
/** The commands that print one JSON document with --json. */
const JSON_DOC: readonly CommandName[] = ['env', 'services', 'releases'];
/** The commands that can speak JSON lines (run: its services' output, with --with). */
const JSON_LINES: readonly CommandName[] = ['start', 'run', 'release', ...CONTROL_COMMANDS, ...JSON_DOC];

/** The single table behind parsing, TF_* fallbacks, `--help` and which command takes what. */
export const OPTION_SPECS: readonly OptionSpec[] = [
  {
    flag: 'procfile',
    short: 'f',
    env: 'TF_PROCFILE',
    type: 'string',
    arg: 'PATH',
    commands: LOCATE,
    help: 'Procfile to read (default: ./Procfile, or ROOT/Procfile with --root)',
  },
  {
    flag: 'root',
    short: 'd',
    env: 'TF_ROOT',
    type: 'string',
    arg: 'DIR',
    commands: LOCATE,
    help: "app root and every process's working directory (default: the Procfile's directory)",
  },
  {
    flag: 'env-file',
    short: 'e',
    env: 'TF_ENV_FILE',
    type: 'string',
    multiple: true,
    arg: 'PATH',
    commands: CONFIG,
    help: 'env file to load instead of .env; repeat or separate with commas, later files win',
  },
  {
    flag: 'env',
    env: 'TF_ENV',
    type: 'string',
    arg: 'NAME',
    commands: [...CONFIG, 'secrets', 'releases'],
    help: 'named environment: loads .env, .env.local, .env.NAME, .env.NAME.local',
  },
  {
    flag: 'env-override',
    env: 'TF_ENV_OVERRIDE',
    type: 'boolean',
    commands: CONFIG,
    help: 'let env files win over the shell environment (default: the shell wins)',
  },
  {
    flag: 'formation',
    short: 'm',
    env: 'TF_FORMATION',
    type: 'string',
    arg: 'SPEC',
    commands: POLICY,
    help: 'instances per type, e.g. all=1,web=2,worker=0 (default: one of each)',
  },
  { flag: 'port', short: 'p', env: 'TF_PORT', type: 'string', arg: 'N', commands: CONFIG, help: 'base port (default: PORT from the environment, else 5000)' },
  { flag: 'port-step', env: 'TF_PORT_STEP', type: 'string', arg: 'N', commands: CONFIG, help: 'port distance between process types (default: 100)' },
  {
    flag: 'timeout',
    short: 't',
    env: 'TF_TIMEOUT',
    type: 'string',
    arg: 'SECONDS',
    commands: [...POLICY, 'release'],
    help: 'grace period between SIGTERM and SIGKILL (default: 5)',
  },
  {
    flag: 'restart',
    env: 'TF_RESTART',
    type: 'string',
    arg: 'SPEC',
    commands: POLICY,
    help: 'what a type does when it exits on its own: no, on-failure or always, e.g. all=on-failure,web=always (default: no)',
  },
  {
    flag: 'can-die',
    env: 'TF_CAN_DIE',
    type: 'string',
    arg: 'TYPES',
    commands: POLICY,
    help: 'types whose exit, with any code, does not stop the others, e.g. migrate,assets',
  },
  {
    flag: 'stop-signal',
    env: 'TF_STOP_SIGNAL',
    type: 'string',
    arg: 'SPEC',
    commands: POLICY,
    help: 'signal that asks a type to stop (SIGKILL follows after --timeout), e.g. worker=QUIT (default: TERM)',
  },
  {
    flag: 'ready',
    env: 'TF_READY',
    type: 'string',
    arg: 'SPEC',
    commands: POLICY,
    help: 'when an instance counts as ready, per type: none, port, an HTTP path or a log line (default: web=port)',
  },
  {
    flag: 'with',
    type: 'string',
    arg: 'TYPES',
    commands: ['run'],
    help: 'start these types first, wait until they are ready, run the command, stop them, e.g. web,worker',
  },
  {
    flag: 'socket',
    env: 'TF_SOCKET',
    type: 'string',
    arg: 'PATH',
    commands: JSON_OUT,
    help: 'the control socket: where tf start listens and the control commands connect',
  },
  {
    flag: 'wait-timeout',
    env: 'TF_WAIT_TIMEOUT',
    type: 'string',
    arg: 'SECONDS',
    commands: ['start', 'run', 'restart', 'stop', 'scale'],
    help: 'how long to wait for instances to be ready or stopped; 0 checks once, without waiting (run --with: default 60)',
  },
  {
    flag: 'split-stderr',
    env: 'TF_SPLIT_STDERR',
    type: 'boolean',
    commands: ['start', 'run'],
    help: "keep stderr in a pipe of its own (a process's stdout and stderr lines then lose their order)",
  },
  {
    flag: 'release-phase',
    env: 'TF_RELEASE_PHASE',
    type: 'boolean',
    commands: ['start'],
    help: "run the Procfile's release entry to completion first; if it fails, nothing starts and tf exits with its code",
  },
  {
    flag: 'app',
    env: 'TF_APP',
    type: 'string',
    arg: 'NAME',
    commands: ['export'],
    help: 'app name in exported unit and object names (default: the app root directory name, made safe)',
  },
  { flag: 'user', type: 'boolean', commands: ['export'], help: 'systemd: user units (WantedBy=default.target), installable without root' },
  {
    flag: 'run-as',
    type: 'string',
    arg: 'USER',
    commands: ['export'],
    help: 'systemd system units: the account the processes run as (User=); without it, root',
  },
  { flag: 'image', env: 'TF_IMAGE', type: 'string', arg: 'IMAGE', commands: ['export'], help: 'kubernetes (required), compose: the container image to run' },
  { flag: 'no-secrets', type: 'boolean', commands: ['export'], help: 'write secret keys with empty values, to fill in on the target' },
  { flag: 'force', type: 'boolean', commands: ['export'], help: 'overwrite or remove files in DIR that tf did not write or that were edited since' },
  {
    flag: 'wait',
    env: 'TF_WAIT',
    type: 'string',
    arg: 'VARS',
    commands: ['start', 'run'],
    help: 'wait until these backing services accept connections before spawning, e.g. DATABASE_URL,REDIS_URL (--wait-timeout, default 30)',
  },
  { flag: 'read-only', type: 'boolean', commands: ['run'], help: 'swap each NAME_URL for its NAME_READONLY_URL; refuse resources without one' },
  { flag: 'allow-write', type: 'string', multiple: true, arg: 'NAME', commands: ['run'], help: 'with --read-only: leave NAME_URL writable' },
  { flag: 'reveal', type: 'boolean', commands: ['env'], help: 'show secret values instead of masking them' },
  { flag: 'local', type: 'boolean', commands: ['env', 'secrets', 'services'], help: "write the developer's own layer, .env.local or .env.NAME.local" },
  { flag: 'secret', type: 'boolean', commands: ['env'], help: 'env set: store the value encrypted' },
  { flag: 'probe', type: 'boolean', commands: ['services'], help: 'connect to each resource: up or down, latency, error' },
  { flag: 'lines', short: 'n', type: 'string', arg: 'N', commands: ['logs'], help: 'lines of history to print' },
  { flag: 'follow', short: 'F', type: 'boolean', commands: ['logs'], help: 'keep printing new lines (-f is --procfile)' },
  { flag: 'color', env: 'TF_COLOR', type: 'boolean', commands: SHOW, help: 'force colour on (default: on when stdout is a terminal)' },
  { flag: 'no-color', type: 'boolean', commands: SHOW, help: 'force colour off (NO_COLOR and FORCE_COLOR are honoured too)' },
  { flag: 'timestamp', env: 'TF_TIMESTAMP', type: 'boolean', commands: SHOW, help: 'show the HH:MM:SS column (the default; undoes TF_TIMESTAMP=0)' },
  { flag: 'no-timestamp', type: 'boolean', commands: SHOW, help: 'drop the HH:MM:SS column' },
  { flag: 'json', env: 'TF_JSON', type: 'boolean', commands: JSON_LINES, help: 'one JSON object per line (pino format) instead of prefixed text' },
  { flag: 'no-json', type: 'boolean', commands: JSON_LINES, help: 'prefixed text (the default; undoes TF_JSON=1)' },
  { flag: 'help', short: 'h', type: 'boolean', commands: 'all', help: 'show help' },
  { flag: 'version', short: 'v', type: 'boolean', commands: 'all', help: 'print the version' },
];

/**
 * Options `tf run` takes only with --with: they shape the services it starts. A plain `tf run`
 * starts none, so one of these there is a mistake, not something to ignore.
 */
export const RUN_WITH_ONLY: ReadonlySet<string> = new Set([
  'formation',
  'timeout',
  'restart',
  'can-die',
  'stop-signal',
  'ready',
  'wait-timeout',
  'split-stderr',
  'color',
  'no-color',
  'timestamp',
  'no-timestamp',
  'json',
  'no-json',
]);

export const takes = (spec: OptionSpec, command: CommandName): boolean =>
  spec.commands === 'all' || command === 'help' || command === 'version' || spec.commands.includes(command);

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

/** The longest a timer can wait (2^31 - 1 ms): a longer timeout would fire at once. */
const MAX_SECONDS = 2_147_483;

function number(raw: string, source: string, kind: 'port' | 'seconds'): number {
  const value = Number(raw);
  // Plain decimal only: Number() would also take 1e3, 0x1388 and 5000.0.
  const ok = kind === 'seconds' ? /^\d+(\.\d+)?$/.test(raw.trim()) && value <= MAX_SECONDS : /^\d+$/.test(raw.trim()) && value >= 1 && value <= 65535;
  if (!ok) {
    const expected = kind === 'seconds' ? `a number of seconds from 0 to ${MAX_SECONDS}, e.g. 5 or 0.5` : 'a whole number from 1 to 65535';
    throw new TfError(source.startsWith('-') ? 'usage' : 'option', `bad value ${JSON.stringify(raw)} for ${source}`, { hint: `expected ${expected}` });
  }
  return value;
}

/** Edit distance counting a swap of neighbours as one edit (typos are often swaps), for "did you mean". */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number): number => d[i]?.[j] ?? 0;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}

function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const name of candidates) {
    const d = distance(word, name);
    if (d <= Math.max(1, Math.floor(name.length / 3)) && (best === undefined || d < best.d)) best = { name, d };
  }
  return best?.name;
}

const commandList = (spec: OptionSpec): string => (spec.commands === 'all' ? 'every command' : spec.commands.map((c) => `tf ${c}`).join(', '));

function unknownOption(token: string): TfError {
  const long = token.startsWith('--') ? (token.slice(2).split('=')[0] ?? '') : undefined;
  const guess =
    long === undefined
      ? undefined
      : closest(
          long,
          OPTION_SPECS.map((s) => s.flag),
        );
  const name = token.startsWith('--') ? `--${long}` : token.slice(0, 2);
  return usageError(`unknown option '${name}'`, `${guess === undefined ? '' : `did you mean --${guess}? `}see "tf --help"`);
}

interface Given {
  readonly spec: OptionSpec;
  /** As typed, for messages: `-m` or `--formation`. */
  readonly as: string;
  readonly value: string | true;
}

/**
 * One pass over argv: the command, tf's options (checked against the table) and the rest.
 * After the command of `tf run`, every word belongs to that command.
 */
function scan(argv: readonly string[]): { command: CommandName | undefined; given: Given[]; rest: string[] } {
  const byLong = new Map(OPTION_SPECS.map((s) => [s.flag, s]));
  const byShort = new Map(OPTION_SPECS.flatMap((s) => (s.short === undefined ? [] : [[s.short, s] as const])));
  let command: CommandName | undefined;
  const given: Given[] = [];
  const rest: string[] = [];

  const valueFor = (spec: OptionSpec, as: string, inline: string | undefined, i: number): { value: string; used: number } => {
    if (inline !== undefined) return { value: inline, used: 0 };
    const next = argv[i + 1];
    if (next === undefined)
      throw usageError(
        `${as} needs a value`,
        `write ${as} ${spec.arg ?? 'VALUE'}${spec.flag === 'procfile' && command === 'logs' ? ' (to follow, use -F/--follow)' : ''}`,
      );
    if (next.startsWith('-') && next !== '-') {
      throw usageError(
        `${as} needs a value (${spec.arg ?? 'VALUE'}) but '${next}' follows it`,
        `to give a value that starts with "-", write --${spec.flag}=${next}`,
      );
    }
    return { value: next, used: 1 };
  };

  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] ?? '';
    if (command === 'run' && rest.length > 0) {
      rest.push(token);
    } else if (token === '--') {
      rest.push(...argv.slice(i + 1));
      break;
    } else if (token.startsWith('--')) {
      const eq = token.indexOf('=');
      const name = eq === -1 ? token.slice(2) : token.slice(2, eq);
      const inline = eq === -1 ? undefined : token.slice(eq + 1);
      const spec = byLong.get(name);
      if (spec === undefined) throw unknownOption(token);
      const as = `--${name}`;
      if (spec.type === 'boolean') {
        if (inline !== undefined) {
          const negation = OPTION_SPECS.some((s) => s.flag === `no-${name}`) ? ` or --no-${name}` : '';
          throw usageError(`${as} takes no value`, `write ${as}${negation} alone`);
        }
        given.push({ spec, as, value: true });
      } else {
        const { value, used } = valueFor(spec, as, inline, i);
        given.push({ spec, as, value });
        i += used;
      }
    } else if (token.startsWith('-') && token !== '-') {
      // -x, -xVALUE, or grouped booleans -hv.
      for (let at = 1; at < token.length; at++) {
        const letter = token[at] ?? '';
        const spec = byShort.get(letter);
        if (spec === undefined) throw unknownOption(`-${letter}`);
        const as = `-${letter}`;
        if (spec.type === 'boolean') {
          given.push({ spec, as, value: true });
          continue;
        }
        const attached = token.slice(at + 1);
        const { value, used } = valueFor(spec, as, attached === '' ? undefined : attached.replace(/^=/, ''), i);
        given.push({ spec, as, value });
        i += used;
        break;
      }
    } else if (command === undefined) {
      if (!(COMMANDS as readonly string[]).includes(token)) {
        const guess = closest(token, COMMANDS);
        throw usageError(
          `unknown command "${token}"`,
          `${guess === undefined ? '' : `did you mean "${guess}"? `}commands are: ${COMMANDS.join(', ')}; see "tf --help"`,
        );
      }
      command = token as CommandName;
    } else {
      rest.push(token);
    }
  }
  return { command, given, rest };
}

export function parseInvocation(argv: readonly string[], env: Env): Invocation {
  const scanned = scan(argv);
  const help = scanned.given.some((g) => g.spec.flag === 'help');
  const version = scanned.given.some((g) => g.spec.flag === 'version');
  const command: CommandName = version ? 'version' : (scanned.command ?? 'help');

  if (!help) {
    for (const { spec, as } of scanned.given) {
      if (!takes(spec, command)) throw usageError(`${as} is not an option of "tf ${command}"`, `it is for ${commandList(spec)}; see "tf ${command} --help"`);
    }
    const withGiven = scanned.given.some((g) => g.spec.flag === 'with');
    // --wait-timeout also bounds --wait (backing services), which a plain tf run takes.
    const waitGiven = scanned.given.some((g) => g.spec.flag === 'wait') || (env.TF_WAIT ?? '') !== '';
    const stray =
      command === 'run' && !withGiven ? scanned.given.find((g) => RUN_WITH_ONLY.has(g.spec.flag) && !(g.spec.flag === 'wait-timeout' && waitGiven)) : undefined;
    if (stray !== undefined)
      throw usageError(`${stray.as} applies to "tf run" only with --with`, 'it shapes the services --with starts; a plain tf run starts none');
  }
  const flags = new Map<string, Given[]>();
  for (const g of scanned.given) flags.set(g.spec.flag, [...(flags.get(g.spec.flag) ?? []), g]);
  const last = (flag: string): string | undefined => {
    const value = flags.get(flag)?.at(-1)?.value;
    return typeof value === 'string' ? value : undefined;
  };
  const on = (flag: string): boolean => flags.has(flag);
  /** A yes/no pair: the flag, its `no-` form (contradicting each other), else the variable. */
  const pair = (flag: string, name: string): boolean | undefined => {
    if (on(flag) && on(`no-${flag}`)) throw usageError(`--${flag} and --no-${flag} contradict each other`, 'pass one of them');
    if (on(flag)) return true;
    if (on(`no-${flag}`)) return false;
    return envBoolean(env, name);
  };
  const raw = (flag: string): RawOption | undefined => {
    const value = last(flag);
    if (value !== undefined) return { raw: value, source: `--${flag}` };
    const name = OPTION_SPECS.find((s) => s.flag === flag)?.env;
    const fromEnv = name === undefined ? undefined : env[name];
    return name === undefined || fromEnv === undefined || fromEnv === '' ? undefined : { raw: fromEnv, source: name };
  };
  const envFilesFlag = flags.get('env-file')?.map((g) => g.value as string);
  const envFilesRaw = envFilesFlag ?? (env.TF_ENV_FILE ? [env.TF_ENV_FILE] : []);
  const envFiles = envFilesRaw
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');

  const port = raw('port');
  const step = raw('port-step');
  const timeout = raw('timeout');
  const waitTimeout = raw('wait-timeout');
  const formation = raw('formation');

  const envName = raw('env');
  if (envName !== undefined && !/^[\w.-]+$/.test(envName.raw)) {
    throw new TfError(envName.source.startsWith('-') ? 'usage' : 'option', `bad environment name ${JSON.stringify(envName.raw)} in ${envName.source}`, {
      hint: 'use letters, digits, ".", "_" and "-", e.g. dev, ci, prod',
    });
  }

  const resolved: Options = {
    procfile: raw('procfile')?.raw,
    root: raw('root')?.raw,
    envFiles,
    envName: envName?.raw,
    envOverride: on('env-override') || (envBoolean(env, 'TF_ENV_OVERRIDE') ?? false),
    formation: formation?.raw,
    formationSource: formation?.source ?? '--formation',
    port: port === undefined ? undefined : number(port.raw, port.source, 'port'),
    portStep: step === undefined ? 100 : number(step.raw, step.source, 'port'),
    timeoutMs: timeout === undefined ? 5000 : number(timeout.raw, timeout.source, 'seconds') * 1000,
    color: pair('color', 'TF_COLOR'),
    timestamp: pair('timestamp', 'TF_TIMESTAMP') ?? true,
    json: pair('json', 'TF_JSON') ?? false,
    splitStderr: on('split-stderr') || (envBoolean(env, 'TF_SPLIT_STDERR') ?? false),
    restart: raw('restart'),
    canDie: raw('can-die'),
    stopSignal: raw('stop-signal'),
    ready: raw('ready'),
    socket: raw('socket'),
    waitTimeoutMs: waitTimeout === undefined ? undefined : number(waitTimeout.raw, waitTimeout.source, 'seconds') * 1000,
    lines: raw('lines'),
    follow: on('follow'),
    with: raw('with'),
    wait: raw('wait'),
    readOnly: on('read-only'),
    allowWrite: (flags.get('allow-write') ?? [])
      .flatMap((g) => String(g.value).split(','))
      .map((v) => v.trim())
      .filter((v) => v !== ''),
    reveal: on('reveal'),
    local: on('local'),
    secret: on('secret'),
    probe: on('probe'),
    releasePhase: on('release-phase') || (envBoolean(env, 'TF_RELEASE_PHASE') ?? false),
    app: raw('app')?.raw,
    appSource: raw('app')?.source,
    user: on('user'),
    runAs: raw('run-as')?.raw,
    image: raw('image')?.raw,
    imageSource: raw('image')?.source,
    noSecrets: on('no-secrets'),
    force: on('force'),
  };
  return { command, commandGiven: scanned.command !== undefined || version, options: resolved, rest: scanned.rest, help };
}
