import type { Config, Instance, ReleasePhase } from '../domain.js';
import type { RunMarker } from '../host/process-table.js';
import { STOP_SIGNALS } from '../host/signals.js';
import { DEFAULT_ENV } from '../config/keys.js';
import type { Output } from '../output/output.js';
import { currentRelease, releaseIdOf, type CurrentRelease } from '../release/current.js';
import { describeChanges } from '../release/records.js';
import type { Killer } from '../supervisor/kill.js';
import { Supervisor, realClock } from '../supervisor/supervisor.js';
import type { Watchdog } from '../supervisor/watchdog.js';

/** The name the release phase's output is prefixed with. */
export const RELEASE_NAME = 'release';

/** `--release-phase`, until the CLI's Options carry it as a field of their own. */
export const wantsReleasePhase = (options: object): boolean => 'releasePhase' in options && options.releasePhase === true;

/** The environment a run belongs to, for its releases. */
export const releaseEnvName = (options: { readonly envName: string | undefined }): string => options.envName ?? DEFAULT_ENV;

/**
 * The config a run's processes start from, with `TF_RELEASE=vN` when the code and config are
 * those of the latest release of the environment, and without any `TF_RELEASE` inherited from
 * the shell when they are not (a nested tf must not pass on an id that is not this run's).
 */
export function withReleaseId(config: Config, envName: string): { readonly config: Config; readonly current: CurrentRelease | undefined } {
  const current = currentRelease(config, envName, config.root);
  const id = releaseIdOf(current);
  const env: Record<string, string> = { ...config.env };
  if (id !== undefined) env.TF_RELEASE = id;
  else if (config.envOrigins.get('TF_RELEASE')?.kind !== 'file') delete env.TF_RELEASE;
  return { config: { ...config, env }, current };
}

/** What `start` says once about the release it runs: nothing when there is no release or it is the latest. */
export function releaseNotice(current: CurrentRelease | undefined): string | undefined {
  if (current?.kind !== 'changed') return undefined;
  return `release: changed since ${current.changedSince.id} (${describeChanges(current.changedSince.changes)}), so TF_RELEASE is not set (tf release records a new release)`;
}

export interface PhaseDeps {
  readonly output: Output;
  readonly marker: RunMarker;
  readonly watchdog: Watchdog;
  readonly killer: Killer;
  readonly timeoutMs: number;
  readonly splitStderr: boolean;
}

/** The release phase as the one instance of a supervisor of its own: it runs once, to completion. */
export const phaseInstance = (phase: ReleasePhase): Instance => ({
  name: RELEASE_NAME,
  type: RELEASE_NAME,
  number: 1,
  command: phase.command,
  launch: phase.launch,
  env: phase.env,
  port: 0,
  cwd: phase.cwd,
  color: 0,
  policy: { restart: 'no', canDie: false, stopSignal: 'SIGTERM', ready: { kind: 'none' } },
});

/**
 * Runs the release phase to completion, its output prefixed `release` through `output`;
 * resolves to its exit code (128 + N when a signal ended it or tf). A signal to tf stops it.
 * `onFailure` says what a failure means for the caller.
 */
export async function runReleasePhase(phase: ReleasePhase, deps: PhaseDeps, onFailure = 'nothing else starts'): Promise<number> {
  const instance = phaseInstance(phase);
  const supervisor = new Supervisor(
    [instance],
    { timeoutMs: deps.timeoutMs, splitStderr: deps.splitStderr, marker: deps.marker },
    (event) => {
      // Its exit is the phase's end, not a reason to "stop all processes": what follows says what it means.
      if (event.kind === 'stopping' && event.reason.kind === 'exited') return;
      deps.output.handle(event);
    },
    { watchdog: deps.watchdog, killer: deps.killer, clock: realClock },
  );
  const onStop = (signal: NodeJS.Signals): void => supervisor.signal(signal);
  for (const signal of STOP_SIGNALS) process.on(signal, onStop);
  try {
    const code = await supervisor.run();
    deps.output.handle(
      code === 0
        ? { kind: 'notice', level: 'info', text: 'release phase succeeded', topic: 'release' }
        : { kind: 'notice', level: 'warn', text: `release phase failed (exit code ${code}): ${onFailure}`, topic: 'release' },
    );
    return code;
  } finally {
    for (const signal of STOP_SIGNALS) process.off(signal, onStop);
    deps.output.flush();
  }
}

/**
 * What `tf start` does about the release phase before it starts anything: without
 * `--release-phase` it says once that it does not run it; with it, runs it first. Resolves to
 * the exit code to stop with, or undefined to go on.
 */
export async function startReleasePhase(phase: ReleasePhase | undefined, requested: boolean, deps: PhaseDeps): Promise<number | undefined> {
  if (phase === undefined) return undefined;
  if (!requested) {
    deps.output.handle({ kind: 'notice', level: 'info', text: 'release: not run by tf start (use --release-phase or tf release)', topic: 'release' });
    return undefined;
  }
  const code = await runReleasePhase(phase, deps);
  return code === 0 ? undefined : code;
}
