import type { Invocation, RawOption } from '../cli/args.js';
import { loadConfig } from '../config/load.js';
import { TfError, usageError } from '../errors.js';
import { checkPorts } from '../host/ports.js';
import { newRunMarker, processRow, withMarker } from '../host/process-table.js';
import type { Notice } from '../output/notices.js';
import { buildPlan, runEnv } from '../plan/plan.js';
import type { StopReason, SupervisorEvent } from '../supervisor/events.js';
import { processKiller } from '../supervisor/kill.js';
import { watchReadiness } from '../supervisor/readiness.js';
import { Supervisor } from '../supervisor/supervisor.js';
import { startWatchdog } from '../supervisor/watchdog.js';
import type { CommandContext } from './context.js';
import { oneOffExitCode, oneOffLaunch } from './one-off.js';
import { openServiceOutput, outputColor } from './service-output.js';
import { notReady, probeWhat, ServiceTrouble, type Trouble } from './service-trouble.js';
import { releaseEnvName, withReleaseId } from './release-phase.js';

const DEFAULT_WAIT_MS = 60_000;

type Execa = typeof import('execa').execa;

/** Where `tf run --with` is: what a signal to tf means depends on it. */
type Phase =
  /** The services start; tf waits until every instance is ready. */
  | { readonly kind: 'waiting' }
  /** The command runs attached to the terminal. */
  | { readonly kind: 'command'; readonly kill: (signal: NodeJS.Signals) => void }
  /** The command is done (or never ran); the services are being stopped. */
  | { readonly kind: 'stopping' };

/** Signals that stop the services while tf waits for them, and reach the command once it runs. */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const FORWARD_SIGNALS: readonly NodeJS.Signals[] = ['SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

function withTypes(raw: RawOption | undefined): string[] {
  const types = [
    ...new Set(
      (raw?.raw ?? '')
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== ''),
    ),
  ];
  if (types.length === 0) throw usageError('--with needs at least one process type', 'e.g. tf run --with web -- npm test');
  return types;
}

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * `tf run --with TYPES -- COMMAND`: starts those types as `start` would (same output, same
 * watchdog), waits until every instance is ready, runs the command attached to the terminal
 * with the app's environment and the first type's PORT, stops the services, and exits with
 * the command's code. An instance that exits on its own (whatever its restart policy; a
 * can-die one aside) or never gets ready ends it with exit 1: the services and a command
 * running then are stopped at once (SIGTERM, SIGKILL after -t), and, once all is down, one line
 * on stderr names it and why, then its last lines.
 */
export async function runWith(invocation: Invocation, context: CommandContext): Promise<number> {
  const { options } = invocation;
  const types = withTypes(options.with);
  const [first, ...args] = invocation.rest;
  if (first === undefined) throw usageError('tf run --with needs a command', `e.g. tf run --with ${types.join(',')} -- npm test`);
  const waitMs = options.waitTimeoutMs ?? DEFAULT_WAIT_MS;
  const commandName = first;

  const { config } = withReleaseId(loadConfig({ options, only: types }, { cwd: context.cwd, shellEnv: context.env }), releaseEnvName(options));
  const color = outputColor(options, context);
  const plan = buildPlan(config, { childColor: color && context.stdout.isTTY === true });
  const { launch } = oneOffLaunch([first, ...args], config.procfile.types);
  // The first type named, so `curl localhost:$PORT` reaches its first instance.
  const appEnv = runEnv(
    config,
    config.procfile.types.find((t) => t.name === types[0]),
  );

  let supervisor: Supervisor | undefined;
  const out = await openServiceOutput(options, context, plan, color, () => supervisor);
  // One marker for the services and the command: what either leaves running (a daemon, a
  // server the command put in the background) is stopped with the services, and by the
  // watchdog if tf is killed.
  const marker = newRunMarker();
  const watchdog = startWatchdog(marker);
  const killer = processKiller({ marker, forget: (pgid) => watchdog.remove(pgid), spare: () => (watchdog.pid === undefined ? [] : [watchdog.pid]) });
  const commandEnv = withMarker(appEnv, marker);
  const ports = await checkPorts(plan.instances);
  for (const warning of [...plan.warnings, ...ports.warnings]) out.output.handle({ kind: 'warning', warning });
  // Its probe would hear the process already on its port, and the command would run against that one.
  const blind = plan.instances.find((instance) => ['port', 'http'].includes(instance.policy.ready.kind) && ports.inUse.has(instance.port));
  if (blind !== undefined) {
    watchdog.release();
    await out.finish();
    throw new TfError(
      'spawn',
      `${blind.name} cannot be waited for: port ${blind.port} was in use before it started, so its probe (${probeWhat(blind)}) would hear that process`,
      {
        hint: 'stop what holds the port, or choose other ports with -p',
      },
    );
  }

  // Identity tells tf's own stop from the supervisor's verdicts.
  const ownStop: StopReason = { kind: 'requested' };
  const watch = new ServiceTrouble(ownStop);
  let phase: Phase = { kind: 'waiting' };
  let trouble: Trouble | undefined;
  /** When the trouble was found (" while the command ran"), for the report at the end. */
  let troubleWhen = '';
  const troubled = deferred<Trouble>();
  const allReady = deferred<void>();
  let stopNotice: Notice | undefined;

  /**
   * One line naming the instance and why, then its last lines, on stderr. Written once
   * everything is stopped and shown: the lines are the last it printed, as stdout showed them.
   */
  const report = (found: Trouble): void => {
    if (found.kind === 'output-closed') {
      context.stderr.write('tf: stdout was closed\n');
      return;
    }
    const { instance, why } = found;
    const when = troubleWhen;
    const lines = watch.lines(instance.name);
    const tail = lines.length === 0 ? '; it printed nothing' : `; its last ${lines.length === 1 ? 'line' : `${lines.length} lines`}:`;
    context.stderr.write(`tf: ${instance.name} ${why}${when}${tail}\n${lines.map((l) => `${instance.name} | ${l}\n`).join('')}`);
  };
  /** The first reason to stop is the one told. */
  const stopServices = (why: string, reason: string, facts: Readonly<Record<string, unknown>> = {}): void => {
    if (stopNotice !== undefined) return;
    stopNotice = { text: `stopping all processes (${why})`, level: 'info', fields: { event: 'stopping', reason, ...facts } };
    supervisor?.stop(ownStop);
  };

  /** The first trouble ends the run: the command (if it runs) is stopped, and the services at once, so none is restarted. */
  const onTrouble = (found: Trouble): void => {
    if (trouble !== undefined) return;
    trouble = found;
    troubleWhen = found.kind === 'output-closed' ? '' : when(found);
    troubled.resolve(found);
    // Not from inside the supervisor's own event.
    queueMicrotask(() => stopServices(found.kind === 'output-closed' ? 'stdout was closed' : `${found.instance.name} ${found.why}`, found.kind));
  };

  const when = (found: Exclude<Trouble, { kind: 'output-closed' }>): string => {
    if (phase.kind === 'command') return ' while the command ran';
    if (found.kind !== 'down' || phase.kind !== 'waiting') return '';
    return watch.wasReady(found.instance.name) ? ' before the command ran' : ' before it was ready';
  };

  let readyCheck = false;
  const checkReady = (): void => {
    readyCheck = false;
    if (phase.kind !== 'waiting' || trouble !== undefined || supervisor === undefined) return;
    if (supervisor.snapshot().every((v) => v.state === 'ready' || v.state === 'exited')) allReady.resolve();
  };
  const emit = (event: SupervisorEvent): void => {
    if (event.kind === 'stopping' && event.reason === ownStop && stopNotice !== undefined) out.notice(stopNotice);
    else out.output.handle(event);
    const found = watch.handle(event);
    if (found !== undefined) onTrouble(found);
    // Probe `none` makes an instance ready without an event, right after its `spawned` one.
    if (phase.kind === 'waiting' && !readyCheck) {
      readyCheck = true;
      queueMicrotask(checkReady);
    }
  };

  const debug = context.env.TF_LOG === 'debug' ? (line: string) => void context.stderr.write(`tf: debug: ${line}\n`) : undefined;
  supervisor = new Supervisor(plan.instances, { timeoutMs: options.timeoutMs, debug, splitStderr: options.splitStderr, marker, untilStopped: true }, emit, {
    watchdog,
    killer,
    readiness: watchReadiness({ takenPorts: ports.inUse }),
  });
  const running = supervisor;
  if (out.writer.closed) running.stop({ kind: 'output-closed' });

  const onStop = (signal: NodeJS.Signals): void => {
    // A terminal's Ctrl-C reaches the command itself (same process group): tf waits for its verdict.
    if (phase.kind === 'command') {
      if (signal !== 'SIGINT') phase.kill(signal);
    } else running.signal(signal);
  };
  const onForward = (signal: NodeJS.Signals): void => {
    if (phase.kind === 'command') phase.kill(signal);
    else running.forward(signal);
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onStop);
  for (const signal of FORWARD_SIGNALS) process.on(signal, onForward);

  const finished = running.run();
  const execaLoaded = import('execa');
  const waited = setTimeout(() => {
    const found = notReady(running.snapshot(), plan.instances, waitMs);
    if (found !== undefined) onTrouble(found);
  }, waitMs);
  try {
    const outcome = await Promise.race([
      allReady.promise.then(() => 'ready' as const),
      troubled.promise.then(() => 'trouble' as const),
      finished.then(() => 'ended' as const),
    ]);
    clearTimeout(waited);
    // Loaded while the services start; a service may go down meanwhile.
    const { execa } = await execaLoaded;
    if (outcome !== 'ready' || trouble !== undefined) {
      phase = { kind: 'stopping' };
      const code = await finished;
      return trouble !== undefined ? 1 : code;
    }
    // The command shares tf's stdout: what tf holds back goes out first.
    out.output.flush();
    const commandCode = await runCommand(execa);
    phase = { kind: 'stopping' };
    if (commandCode.kind === 'code') stopServices(`the command exited with code ${commandCode.code}`, 'command-exited', { exitCode: commandCode.code });
    else stopServices('the command could not start', 'command-not-started');
    await finished;
    if (commandCode.kind === 'error') throw commandCode.error;
    return trouble !== undefined ? 1 : commandCode.code;
  } finally {
    clearTimeout(waited);
    for (const signal of STOP_SIGNALS) process.off(signal, onStop);
    for (const signal of FORWARD_SIGNALS) process.off(signal, onForward);
    watchdog.release();
    await out.finish();
    if (trouble !== undefined) report(trouble);
  }

  async function runCommand(execa: Execa): Promise<{ kind: 'code'; code: number } | { kind: 'error'; error: unknown }> {
    const child = execa(launch.file, [...launch.args], {
      cwd: config.root,
      env: commandEnv,
      extendEnv: false,
      stdio: 'inherit',
      reject: false,
      // tf decides when to escalate: only when a service went down, after -t.
      forceKillAfterDelay: false,
    });
    const { pid } = child;
    // In tf's own process group (it shares the terminal): the watchdog and the killer know it
    // as a process and its tree, never by group.
    const row = pid === undefined ? undefined : processRow(pid);
    if (pid !== undefined) {
      watchdog.addProcess(pid);
      killer.started(pid);
    }
    phase = { kind: 'command', kill: (signal) => void child.kill(signal) };
    let forced: NodeJS.Timeout | undefined;
    void troubled.promise.then(() => {
      if (phase.kind !== 'command' || pid === undefined) return;
      child.kill('SIGTERM');
      forced = setTimeout(() => {
        killer.tree(pid, 'SIGKILL');
        if (row !== undefined) killer.pid(row, 'SIGKILL');
      }, options.timeoutMs);
    });
    try {
      const result = await child;
      return { kind: 'code', code: oneOffExitCode(result, commandName, config.root) };
    } catch (error) {
      return { kind: 'error', error };
    } finally {
      clearTimeout(forced);
    }
  }
}
