import { shellLaunch } from '../plan/launch.js';
import { extensionPrelude } from './extensions.js';
import type { ExportFile, ExportInput, ExportOptions, ExportType } from './types.js';

/**
 * systemd units: one `APP.target` that wants every unit, one service per instance
 * (`APP-web-1.service`: each instance has its own PORT and PS, which a template unit could
 * only take from its instance name), and the release phase as a oneshot the others require.
 * Config goes to `APP.env` (mode 0600), installed beside the units: they name it through `%E`
 * (`/etc` for the system manager, `~/.config` for `--user`), so the export holds no path of
 * the machine it was made on other than the app root.
 */

const HEADER = '# Written by `tf export systemd`: change the Procfile or env files and export again.';

/** systemd's unit names: tf's app and type names must fit in them as they are. */
const UNIT_NAME = /^[A-Za-z0-9_.:-]+$/;
/** What systemd passes on from an EnvironmentFile; other keys are dropped with a log line. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** systemd's limit on a unit name, suffix included. */
const UNIT_NAME_MAX = 255;

const serviceName = (app: string, type: string, number: number): string => `${app}-${type}-${number}.service`;
const releaseName = (app: string): string => `${app}-release.service`;
const envFileName = (app: string): string => `${app}.env`;

/** `%` starts a specifier in almost every unit setting, `%%` is a literal one. */
const escapeSpecifiers = (text: string): string => text.replaceAll('%', '%%');

/**
 * One ExecStart word, single-quoted: systemd expands `%` specifiers in the whole line, then
 * splits it into words honouring quotes and C escapes (inside quotes too), then expands
 * `$VAR`; so `%` -> `%%`, `$` -> `$$`, `\` and `'` and control characters as C escapes.
 * The shell then gets the command exactly as the Procfile has it.
 */
export function execWord(text: string): string {
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === '%') out += '%%';
    else if (ch === '$') out += '$$';
    else if (ch === '\\') out += '\\\\';
    else if (ch === "'") out += "\\'";
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `'${out}'`;
}

/**
 * One EnvironmentFile value, double-quoted: systemd's parser keeps everything inside double
 * quotes (newlines included) except that `\` escapes `"`, `\`, `` ` `` and `$`; it expands nothing.
 */
export const envFileValue = (value: string): string => `"${value.replace(/["\\`$]/g, '\\$&')}"`;

/**
 * The command as `tf start` launches it: a simple one is exec'd, so the program is the unit's main
 * process. `prelude` applies values that extend the manager's own (PATH=./bin:$PATH) first, in the
 * shell: neither Environment= nor EnvironmentFile= expands a variable.
 */
function execLine(command: string, prelude: string): string {
  const launch = shellLaunch(command);
  return [launch.file, ...launch.args.slice(0, -1), execWord(prelude + (launch.args.at(-1) ?? ''))].join(' ');
}

const instanceUnits = (type: ExportType, app: string): string[] => type.ports.map((_, i) => serviceName(app, type.name, i + 1));

function envFile(input: ExportInput, options: ExportOptions): ExportFile {
  const lines = [HEADER];
  if (options.noSecrets && [...input.env.values()].some((v) => v.secret)) lines.push('# --no-secrets: fill in the empty secret values before starting.');
  for (const [key, { value, secret }] of input.env) lines.push(`${key}=${envFileValue(secret && options.noSecrets ? '' : value)}`);
  return { path: envFileName(input.app), content: `${lines.join('\n')}\n`, mode: 0o600 };
}

interface ServiceSpec {
  readonly description: string;
  readonly inline: readonly (readonly [string, string])[];
  readonly command: string;
  readonly identifier: string;
  readonly service: readonly string[];
}

function unit(input: ExportInput, options: ExportOptions, spec: ServiceSpec, afterRelease: boolean): string {
  const scope = options.user ? 'user' : 'system';
  const release = releaseName(input.app);
  return [
    HEADER,
    '[Unit]',
    `Description=${escapeSpecifiers(spec.description)}`,
    `PartOf=${input.app}.target`,
    ...(afterRelease ? [`Requires=${release}`, `After=${release}`] : []),
    '',
    '[Service]',
    ...spec.service,
    ...(options.runAs === undefined ? [] : [`User=${options.runAs}`]),
    `WorkingDirectory=${escapeSpecifiers(input.root)}`,
    ...spec.inline.map(([key, value]) => `Environment=${key}=${value}`),
    `EnvironmentFile=%E/systemd/${scope}/${envFileName(input.app)}`,
    `ExecStart=${execLine(spec.command, extensionPrelude(input.extensions))}`,
    `SyslogIdentifier=${spec.identifier}`,
    '',
  ].join('\n');
}

/** tf's stop: the type's stop signal to the whole process group, SIGKILL after `-t`. */
function stopSettings(type: ExportType, timeoutSeconds: number): string[] {
  // tf's backoff starts at a second; systemd's default 100 ms would spend its start limit (5 in 10 s) at once.
  const restart = type.policy.restart === 'no' ? [] : [`Restart=${type.policy.restart}`, 'RestartSec=1'];
  return ['Type=exec', 'KillMode=control-group', `KillSignal=${type.policy.stopSignal}`, `TimeoutStopSec=${timeoutSeconds}`, ...restart];
}

/** What User= takes without a warning: systemd's strict user name (at most 31 characters, no dots), or a numeric id. */
const ACCOUNT = /^(?:[A-Za-z_][A-Za-z0-9_-]{0,30}|\d+)$/;

export function renderSystemd(input: ExportInput, options: ExportOptions): readonly ExportFile[] {
  const { app } = input;
  const hasRelease = input.release !== undefined;
  const files: ExportFile[] = [];
  const wanted = [...(hasRelease ? [releaseName(app)] : []), ...input.types.flatMap((t) => instanceUnits(t, app))];
  const target = [
    HEADER,
    '[Unit]',
    // A type scaled to zero has no unit; said here so that its absence is not a mystery.
    ...input.types.filter((t) => t.count === 0).map((t) => `# ${t.name}: 0 instances in the formation, so no unit; export again with -m ${t.name}=N to run it`),
    `Description=${escapeSpecifiers(app)} (exported by tf${input.releaseId === undefined ? '' : ` from release ${input.releaseId}`})`,
    ...(wanted.length === 0 ? [] : [`Wants=${wanted.join(' ')}`]),
    '',
    '[Install]',
    `WantedBy=${options.user ? 'default.target' : 'multi-user.target'}`,
    '',
  ].join('\n');
  files.push({ path: `${app}.target`, content: target, mode: 0o644 });
  if (input.release !== undefined) {
    const content = unit(
      input,
      options,
      {
        description: `${app} release phase`,
        inline: [['PS', 'release.1']],
        command: input.release.command,
        identifier: 'release',
        // Run to completion before the others; a failure keeps them from starting (they Require it).
        service: ['Type=oneshot', 'RemainAfterExit=yes', 'KillMode=control-group', `TimeoutStopSec=${input.timeoutSeconds}`],
      },
      false,
    );
    files.push({ path: releaseName(app), content, mode: 0o644 });
  }
  for (const type of input.types) {
    type.ports.forEach((port, i) => {
      const ps = `${type.name}.${i + 1}`;
      const content = unit(
        input,
        options,
        {
          description: `${app} ${ps}`,
          inline: [
            ['PORT', String(port)],
            ['PS', ps],
          ],
          command: type.command,
          identifier: ps,
          service: stopSettings(type, input.timeoutSeconds),
        },
        hasRelease,
      );
      files.push({ path: serviceName(app, type.name, i + 1), content, mode: 0o644 });
    });
  }
  files.push(envFile(input, options));
  return files;
}

/** What keeps `app` from naming systemd units, whatever the Procfile holds; `fix` says how to pass another. */
export function systemdAppProblem(app: string, fix: string): string | undefined {
  if (!UNIT_NAME.test(app) || app.startsWith('-'))
    return `app name "${app}" cannot be part of a systemd unit name (letters, digits, "_", ".", ":" and "-", not starting with "-"); ${fix}`;
  // The shortest unit it names; the longest depends on the type names too (see systemdProblems).
  if (`${app}.target`.length > UNIT_NAME_MAX)
    return `app name "${app.slice(0, 20)}..." is too long for a systemd unit name (at most ${UNIT_NAME_MAX - '.target'.length} characters); ${fix}`;
  return undefined;
}

/** What keeps `--run-as` from being systemd's User=, if anything. */
export function runAsProblem(runAs: string): string | undefined {
  return ACCOUNT.test(runAs)
    ? undefined
    : `"${runAs}" is not an account systemd's User= takes cleanly (a name of letters, digits, "_" and "-", at most 31, not starting with a digit or "-"; or a numeric id); pass another with --run-as USER`;
}

/** What `renderSystemd` cannot express faithfully, one line each with the fix; the command line's own values are checked before. */
export function systemdProblems(input: ExportInput): string[] {
  const problems: string[] = [];
  const app = systemdAppProblem(input.app, 'pass another with --app NAME');
  if (app !== undefined) problems.push(app);
  const longest = Math.max(0, ...input.types.map((t) => serviceName(input.app, t.name, Math.max(1, t.count)).length));
  if (app === undefined && longest > UNIT_NAME_MAX)
    problems.push(`unit names would be longer than systemd's ${UNIT_NAME_MAX} characters; pass a shorter --app NAME`);
  for (const type of input.types) {
    if (!UNIT_NAME.test(type.name)) problems.push(`process type "${type.name}" cannot be part of a systemd unit name; rename it in the Procfile`);
  }
  if (/[\n\r]/.test(input.root)) problems.push('the app root has a newline in its path, which WorkingDirectory= cannot hold; move the app');
  for (const key of input.env.keys()) {
    if (!ENV_NAME.test(key))
      problems.push(
        `variable "${key}" is not a name systemd passes to a process (letters, digits and "_", not starting with a digit); rename it in its env file`,
      );
  }
  return problems;
}
