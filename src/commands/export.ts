import path from 'node:path';
import { loadConfig, type ConfigOptions } from '../config/load.js';
import type { Config, FileLine, Warning } from '../domain.js';
import { TfError, usageError } from '../errors.js';
import { exportInput } from '../export/input.js';
import { DEFAULT_ENV } from '../config/keys.js';
import { currentRelease, releaseIdOf } from '../release/current.js';
import { renderCompose } from '../export/compose.js';
import { kubernetesNameProblem, renderKubernetes } from '../export/kubernetes.js';
import { renderSystemd, runAsProblem, systemdAppProblem, systemdProblems } from '../export/systemd.js';
import type { ExportInput, ExportOptions, OmittedValue, Render } from '../export/types.js';
import { writeExport } from '../export/write.js';
import { notIgnoredByGit } from '../host/git.js';
import { type CommandContext, writeWarnings } from './context.js';

/** The formats `tf export` knows, one line each. */
const FORMATS: Readonly<Record<string, Render>> = {
  systemd: renderSystemd,
  kubernetes: renderKubernetes,
  compose: renderCompose,
};

/** What each format cannot express, beyond what every format checks; one line each. */
const PROBLEMS: Readonly<Record<string, (input: ExportInput, options: ExportOptions) => readonly string[]>> = {
  systemd: systemdProblems,
};

/** What keeps an app name given by the user from naming a format's units or objects; `fix` says how to pass another. */
const APP_NAME_PROBLEMS: Readonly<Record<string, (app: string, fix: string) => string | undefined>> = {
  systemd: systemdAppProblem,
  kubernetes: (app, fix) => kubernetesNameProblem(app, 'app name', fix),
};

export const exportFormats = (): string[] => Object.keys(FORMATS).sort();

/** What an export to `format` would refuse, each a line naming the value and the fix; `tf check` prints them. */
export function exportProblems(
  input: ExportInput,
  format: string,
  options: ExportOptions = { user: false, image: undefined, noSecrets: false },
): readonly string[] {
  return PROBLEMS[format]?.(input, options) ?? [];
}

const listed = (names: readonly string[]): string => {
  const dollars = names.map((n) => `$${n}`);
  return dollars.length <= 1 ? dollars.join('') : `${dollars.slice(0, -1).join(', ')} and ${dollars.at(-1)}`;
};

/** How to give a left-out variable a value: in the env file of the environment exported, or on the target. */
const omittedFix = (envName: string | undefined): string =>
  `set its full value in ${envName === undefined ? 'an env file of the target (e.g. .env.prod, with --env prod)' : `.env.${envName}`} or on the target`;

const at = (place: FileLine): string => `${place.file}:${place.line}`;
const isOrAre = (names: readonly string[]): string => (names.length === 1 ? 'is' : 'are');

/**
 * What a left-out value is built on, why the files cannot complete it, and the fix: a variable an
 * env file sets only below the line that needed it is as unset there (tf start reads it so too),
 * so the fix is to move that line up, not to set it elsewhere.
 */
function omittedReason(omitted: OmittedValue, envName: string | undefined): { built: string; fix: string } {
  const { variables, undecidedDefaults, setLate } = omitted;
  const here = (place: FileLine): boolean => place.file === omitted.file && place.line === omitted.line;
  const where = (place: FileLine): string => (here(place) ? 'this line' : at(place));
  const uses = [...new Set(setLate.map((l) => where(l.neededAt)))];
  const unset = `no env file sets${uses.length === 0 ? '' : ` before ${uses.length === 1 ? uses[0] : 'the lines that use them'}`}`;
  const built =
    undecidedDefaults.length === 0
      ? `is built on ${listed(variables)}, which ${unset}`
      : // The default applies only where the variables are empty: which, only the target knows.
        `is built on ${undecidedDefaults.map((n) => `\${${n}:-...}`).join(' and ')}, whose default applies only where ${listed(variables)} ${isOrAre(variables)} empty, and ${unset} ${variables.length === 1 ? 'it' : 'them'}`;
  // Within a file the line can move up; a later file (.env.prod after .env) is read after, whatever its order.
  const moves = setLate.map((l) =>
    l.setAt.file === l.neededAt.file
      ? `${at(l.setAt)} sets $${l.variable} only after ${where(l.neededAt)} uses it, and a value sees only the lines above it: move ${at(l.setAt)} above ${where(l.neededAt)}`
      : `${at(l.setAt)} sets $${l.variable} only after ${where(l.neededAt)} uses it (${l.setAt.file} is read after ${l.neededAt.file}): set $${l.variable} in ${l.neededAt.file} above ${where(l.neededAt)}, or set ${omitted.key} in ${l.setAt.file} below ${at(l.setAt)}`,
  );
  // Moving lines up completes the value only when every variable it needs is set somewhere.
  const fixes = setLate.length === variables.length ? moves : [...moves, omittedFix(envName)];
  return { built, fix: fixes.join('; ') };
}

/**
 * One warning per value an export leaves out (see ExportInput.omitted), at its env file line. Left out
 * rather than refused: the target may well set it, and written with the developer's shell it would
 * carry a path of the developer's machine; written with the gap empty, a value no one meant.
 */
function omittedWarnings(input: ExportInput, envName: string | undefined, forCheck: boolean): Warning[] {
  return input.omitted.map((omitted) => {
    const { key, file, line, variables, undecidedDefaults } = omitted;
    const { built, fix } = omittedReason(omitted, envName);
    const leftOut =
      undecidedDefaults.length === 0
        ? `the export leaves ${key} out rather than write it with ${listed(variables)} empty`
        : `the export leaves ${key} out rather than guess whether the default applies`;
    return { file, line, message: forCheck ? `tf export would leave out ${key}: it ${built}; ${fix}` : `${key} ${built}: ${leftOut}; ${fix}` };
  });
}

/**
 * For `tf check`: what an export to each format would refuse or leave out with this config, as
 * warnings (a `tf start` does not need them). Uses the default app name; `--app` is export's own flag.
 */
export function exportWarnings(config: Config, envName?: string): Warning[] {
  let input: ExportInput;
  try {
    input = exportInput(config, { app: undefined, timeoutSeconds: 5 });
  } catch (error) {
    // What start does not need (a PORT for a type scaled to zero) is only a warning here.
    if (error instanceof TfError) return [{ message: `tf export would refuse: ${error.describe()}` }];
    throw error;
  }
  return [
    ...omittedWarnings(input, envName, true),
    ...exportFormats().flatMap((format) => exportProblems(input, format).map((problem) => ({ message: `tf export ${format} would refuse: ${problem}` }))),
  ];
}

/** `tf export FORMAT DIR` as parsed: the integrator maps the command line onto it. */
export interface ExportRequest {
  readonly format: string | undefined;
  readonly dir: string | undefined;
  readonly config: ConfigOptions;
  /** `-t` in seconds. */
  readonly timeoutSeconds: number;
  readonly app: string | undefined;
  /** Where `app` came from, `--app` (the default) or `TF_APP`: a bad flag is a usage error, a bad variable is not. */
  readonly appSource?: string | undefined;
  readonly user: boolean;
  readonly runAs?: string | undefined;
  readonly image: string | undefined;
  /** Where `image` came from, `--image` (the default) or `TF_IMAGE`: a CI's TF_IMAGE must not break its systemd export. */
  readonly imageSource?: string | undefined;
  readonly noSecrets: boolean;
  readonly force: boolean;
}

/** Only the variables that unlock encrypted values: an export must not depend on the rest of the shell. */
const keyVariables = (env: CommandContext['env']): Record<string, string> =>
  Object.fromEntries(Object.entries(env).filter(([key]) => key.startsWith('TF_KEY_') || key.startsWith('DOTENV_PRIVATE_KEY')));

/**
 * The values of tf's options that a format cannot take, whatever the files hold, checked before
 * any file is read: one from the command line is a usage error (exit 2), one from a TF_* variable
 * is not (exit 1), as for every other option. All of them in one line.
 */
function checkOptionValues(request: ExportRequest & { readonly format: string }): void {
  const problems: { readonly text: string; readonly source: string }[] = [];
  const appSource = request.appSource ?? '--app';
  const appProblem =
    request.app === undefined
      ? undefined
      : APP_NAME_PROBLEMS[request.format]?.(request.app, appSource.startsWith('-') ? 'pass another with --app NAME' : `set another in ${appSource}`);
  if (appProblem !== undefined) problems.push({ text: appProblem, source: appSource });
  if (request.runAs !== undefined && request.user)
    throw usageError('--run-as is for system units, and --user asks for user units (they run as the user who installs them)', 'drop one of them');
  if (request.runAs !== undefined && request.format !== 'systemd')
    throw usageError(`--run-as is for tf export systemd, not ${request.format}`, 'a container runs as its image says (USER in the Dockerfile)');
  // A flag the format would not use is refused, not ignored: whoever typed it expected it to do something.
  if (request.user && request.format !== 'systemd')
    throw usageError(`--user is for tf export systemd, not ${request.format}`, 'a container runs as its image says (USER in the Dockerfile)');
  if (request.image !== undefined && request.format === 'systemd' && (request.imageSource ?? '--image').startsWith('-'))
    throw usageError('--image is for tf export kubernetes and compose, not systemd', 'systemd units run the app from its directory');
  if (request.app !== undefined && appSource.startsWith('-') && request.format === 'compose')
    throw usageError('--app does not apply to tf export compose', 'docker compose names the project: -p NAME, or the directory');
  const runAs = request.runAs === undefined ? undefined : runAsProblem(request.runAs);
  if (runAs !== undefined) problems.push({ text: runAs, source: '--run-as' });
  if (problems.length === 0) return;
  const kind = problems.some((p) => p.source.startsWith('-')) ? 'usage' : 'option';
  throw new TfError(kind, `cannot export to ${request.format}: ${problems.map((p) => p.text).join('; also: ')}`);
}

export function exportCommand(request: ExportRequest, context: CommandContext): number {
  const known = exportFormats().join(', ');
  const { format } = request;
  if (format === undefined) throw usageError('tf export needs a format and a directory', `tf export FORMAT DIR, FORMAT one of: ${known}`);
  const render = FORMATS[format];
  if (render === undefined) throw usageError(`unknown export format "${format}"`, `use one of: ${known}`);
  if (request.dir === undefined || request.dir === '') throw usageError(`tf export ${format} needs a directory to write to`, `tf export ${format} DIR`);
  checkOptionValues({ ...request, format });

  const config = loadConfig({ options: request.config }, { cwd: context.cwd, shellEnv: keyVariables(context.env) });
  writeWarnings(context.stderr, config.warnings);
  // The export carries the release id when the code and config are those of the latest release.
  const releaseId = releaseIdOf(currentRelease(config, request.config.envName ?? DEFAULT_ENV, config.root));
  const input = exportInput(config, { app: request.app, timeoutSeconds: request.timeoutSeconds, ...(releaseId === undefined ? {} : { releaseId }) });
  writeWarnings(context.stderr, omittedWarnings(input, request.config.envName, false));
  const dir = path.resolve(context.cwd, request.dir);
  const options: ExportOptions = { user: request.user, runAs: request.runAs, image: request.image, noSecrets: request.noSecrets, dir };
  const problems = exportProblems(input, format, options);
  // All of them in the one line: fixing one at a time, an export after another, would be tedious.
  if (problems.length > 0) throw new TfError('option', `cannot export to ${format}: ${problems.join('; also: ')}`);
  const files = render(input, options);
  const result = writeExport({ dir, dirShown: request.dir, format, files, force: request.force });
  const lines = [
    ...result.written.map((f) => `wrote ${path.join(request.dir ?? '', f)}`),
    ...result.removed.map((f) => `removed ${path.join(request.dir ?? '', f)} (no longer exported)`),
    `${format}: ${files.length} file${files.length === 1 ? '' : 's'} in ${request.dir} (${result.written.length} written, ${result.unchanged.length} unchanged, ${result.removed.length} removed)`,
  ];
  context.stdout.write(`${lines.join('\n')}\n`);
  // Written 0600 because they hold secret values: a `git add -A` must not take them unnoticed.
  const holdsSecrets = !request.noSecrets && [...input.env.values()].some((v) => v.secret);
  const exposed = holdsSecrets ? notIgnoredByGit(files.filter((f) => f.mode === 0o600).map((f) => path.join(dir, f.path))) : [];
  if (exposed.length > 0) {
    const shown = exposed.map((f) => path.join(request.dir ?? '', path.relative(dir, f))).join(', ');
    context.stderr.write(
      `tf: warning: ${shown} ${exposed.length === 1 ? 'holds' : 'hold'} secret values and git does not ignore ${exposed.length === 1 ? 'it' : 'them'}: add ${exposed.length === 1 ? 'it' : 'them'} to .gitignore, or export with --no-secrets\n`,
    );
  }
  return 0;
}
