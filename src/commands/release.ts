import type { Options } from '../cli/args.js';
import { checkEnvName } from '../config/keys.js';
import { usageError } from '../errors.js';
import { loadConfig } from '../config/load.js';
import { appPaths } from '../config/paths.js';
import { newRunMarker } from '../host/process-table.js';
import { buildPlan } from '../plan/plan.js';
import { currentState } from '../release/current.js';
import { fingerprintKey } from '../release/fingerprint.js';
import {
  compareStates,
  describeChanges,
  ignoreReleasesDir,
  readRecords,
  stateOf,
  writeRecord,
  type CodeState,
  type ReleaseChanges,
  type ReleaseRecord,
} from '../release/records.js';
import { processKiller } from '../supervisor/kill.js';
import { startWatchdog } from '../supervisor/watchdog.js';
import type { CommandContext } from './context.js';
import { phaseInstance, releaseEnvName, runReleasePhase } from './release-phase.js';
import { openServiceOutput, outputColor } from './service-output.js';

/** What a release command reads: the CLI's options as parsed (`--env`, `-f`, `-d`, `--json`, ...). */
export interface ReleaseInput {
  readonly options: Options;
  /** Operands after the command: neither command takes any. */
  readonly rest?: readonly string[];
}

function noOperands(command: string, rest: readonly string[] | undefined): void {
  if (rest !== undefined && rest.length > 0) throw usageError(`tf ${command} takes no arguments (got "${rest[0]}")`, 'name the environment with --env NAME');
}

/** The clock a record is stamped with; tests pass their own. */
export interface ReleaseDeps {
  readonly now: () => Date;
}

const say = (context: CommandContext, line: string): void => void context.stdout.write(`${line}\n`);

/**
 * `tf release [--env NAME]`: runs the Procfile's release phase (if any) with that
 * environment's config and, once it succeeded, records a release. A failing release phase
 * records nothing and tf exits with its code.
 */
export async function release(input: ReleaseInput, context: CommandContext, deps: ReleaseDeps = { now: () => new Date() }): Promise<number> {
  const { options } = input;
  noOperands('release', input.rest);
  const envName = releaseEnvName(options);
  checkEnvName(envName);
  const config = loadConfig({ options }, { cwd: context.cwd, shellEnv: context.env });
  const color = outputColor(options, context);
  const plan = buildPlan(config, { childColor: color && context.stdout.isTTY === true });
  // First, so the code state recorded below already has the line: a later run of the same tree then matches.
  ignoreReleasesDir(config.root);

  if (plan.release !== undefined) {
    // The phase's own supervisor stops it on a signal; a closed stdout just loses its output.
    const out = await openServiceOutput(options, context, { ...plan, instances: [phaseInstance(plan.release)] }, color, () => undefined);
    const marker = newRunMarker();
    const watchdog = startWatchdog(marker);
    const killer = processKiller({ marker, forget: (pgid) => watchdog.remove(pgid), spare: () => (watchdog.pid === undefined ? [] : [watchdog.pid]) });
    try {
      const code = await runReleasePhase(
        plan.release,
        {
          output: out.output,
          marker,
          watchdog,
          killer,
          timeoutMs: options.timeoutMs,
          splitStderr: options.splitStderr,
        },
        'no release recorded',
      );
      if (code !== 0) return code;
    } finally {
      watchdog.release();
      await out.finish();
    }
  }

  const before = readRecords(config.root, envName).at(-1);
  const state = currentState(config, config.root, fingerprintKey(config.root));
  const record = writeRecord(config.root, envName, state, { releasePhase: plan.release !== undefined, now: deps.now() });
  const changes = before === undefined ? undefined : compareStates(stateOf(before), state);
  if (options.json) {
    // With --json every line on stdout is one JSON object: the phase's output (pino), then this.
    say(context, JSON.stringify({ released: record.id, environment: envName, previous: before?.id ?? null, changes: changesJson(changes) }));
    return 0;
  }
  const since = before === undefined || changes === undefined ? 'first release' : `since ${before.id}: ${describeChanges(changes)}`;
  say(context, `released ${record.id} of environment ${envName} (${since})`);
  return 0;
}

const codeText = (git: ReleaseRecord['git']): string => (git === null ? 'no git' : `${git.commit.slice(0, 7)}${git.dirty ? '+dirty' : ''}`);

const codeJson = (code: CodeState): { commit: string; dirty: boolean } | null => (code.kind === 'none' ? null : { commit: code.commit, dirty: code.dirty });

function changesJson(changes: ReleaseChanges | undefined): object | null {
  if (changes === undefined) return null;
  return {
    code: changes.code === undefined ? null : { from: codeJson(changes.code.from), to: codeJson(changes.code.to) },
    variables: { added: changes.config.added, removed: changes.config.removed, changed: changes.config.changed },
    procfile: changes.procfile,
  };
}

/** `tf releases [--env NAME] [--json]`: every release of the environment, each with what changed since the one before. */
export function releases(input: ReleaseInput, context: CommandContext): number {
  const { options } = input;
  noOperands('releases', input.rest);
  const envName = releaseEnvName(options);
  checkEnvName(envName);
  const { root } = appPaths(options, context.cwd);
  const records = readRecords(root, envName);
  const listed = records.map((record, i) => {
    const previous = records[i - 1];
    return { record, changes: previous === undefined ? undefined : compareStates(stateOf(previous), stateOf(record)) };
  });
  if (options.json) {
    const doc = {
      env: envName,
      releases: listed.map(({ record, changes }) => ({
        id: record.id,
        createdAt: record.createdAt,
        git: record.git === null ? null : { commit: record.git.commit, dirty: record.git.dirty },
        procfile: record.procfile,
        variables: Object.keys(record.config).sort(),
        releasePhase: record.releasePhase,
        changes: changesJson(changes),
      })),
    };
    say(context, JSON.stringify(doc, null, 2));
    return 0;
  }
  if (records.length === 0) {
    say(context, `no releases of environment ${envName} (tf release records one)`);
    return 0;
  }
  const idWidth = Math.max(...records.map((r) => r.id.length));
  const codeWidth = Math.max(...records.map((r) => codeText(r.git).length));
  for (const { record, changes } of listed) {
    const count = Object.keys(record.config).length;
    const what = changes === undefined ? `first release, ${count} variable${count === 1 ? '' : 's'}` : describeChanges(changes);
    say(context, `${record.id.padEnd(idWidth)}  ${record.createdAt}  ${codeText(record.git).padEnd(codeWidth)}  ${what}`);
  }
  return 0;
}
