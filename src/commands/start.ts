import type { Invocation } from '../cli/args.js';
import { TfError } from '../errors.js';
import { loadConfig } from '../config/load.js';
import { ControlServer, type ControlHandler } from '../control/server.js';
import { prepareSocketDir } from '../control/socket-path.js';
import { FifoMaker, fifoHome, runMkfifo } from '../host/fifos.js';
import { checkPorts } from '../host/ports.js';
import { buildPlan } from '../plan/plan.js';
import { watchReadiness } from '../supervisor/readiness.js';
import { Supervisor, realClock } from '../supervisor/supervisor.js';
import { outputStreams } from '../supervisor/spawn.js';
import { startWatchdog } from '../supervisor/watchdog.js';
import { processKiller } from '../supervisor/kill.js';
import { newRunMarker } from '../host/process-table.js';
import { STOP_SIGNALS } from '../host/signals.js';
import type { CommandContext } from './context.js';
import { socketFor } from './control-client.js';
import { StartControl } from './control-handler.js';
import { reportServices, waitForServices } from './config-commands.js';
import { LogBook } from './log-book.js';
import { openServiceOutput, outputColor } from './service-output.js';
import { releaseEnvName, releaseNotice, startReleasePhase, wantsReleasePhase, withReleaseId } from './release-phase.js';

const FORWARD_SIGNALS: readonly NodeJS.Signals[] = ['SIGUSR1', 'SIGUSR2'];

export async function start(invocation: Invocation, context: CommandContext): Promise<number> {
  const { options } = invocation;
  const request = { options, only: invocation.rest };
  const sources = { cwd: context.cwd, shellEnv: context.env };
  const { config, current: release } = withReleaseId(loadConfig(request, sources), releaseEnvName(options));
  const color = outputColor(options, context);
  const planOptions = { childColor: color && context.stdout.isTTY === true };
  const plan = buildPlan(config, planOptions);
  if (plan.instances.length === 0) throw nothingToStart(config.procfile.path);
  await waitForServices(options, config, context);

  // Before anything is spawned: a second start for the same app is refused here, with nothing to undo.
  const socket = socketFor(invocation, context);
  if (socket.dir !== undefined) prepareSocketDir(socket.dir, process.getuid?.() ?? 0);
  let control: StartControl | undefined;
  const handler: ControlHandler = {
    handle: (request, reply) =>
      control === undefined ? reply.end({ ok: false, error: { code: 'failed', message: 'tf is still starting; try again' } }) : control.handle(request, reply),
  };
  const server = await ControlServer.start({ path: socket.path, handler, app: { root: socket.root, procfile: socket.procfile } });
  let fifos: FifoMaker | undefined;
  try {
    let supervisor: Supervisor | undefined;
    const logs = new LogBook();
    const { output, writer, finish } = await openServiceOutput(options, context, plan, color, () => supervisor, logs);
    const marker = newRunMarker();
    const watchdog = startWatchdog(marker);
    watchdog.socket(server.path, server.inode);
    const fifoCount = plan.instances.length * outputStreams(options.splitStderr).length;
    fifos = new FifoMaker(fifoCount, runMkfifo, fifoHome, (path, inode) => watchdog.fifoDirectory(path, inode));
    const killer = processKiller({ marker, forget: (pgid) => watchdog.remove(pgid), spare: () => (watchdog.pid === undefined ? [] : [watchdog.pid]) });
    const changed = releaseNotice(release);
    if (changed !== undefined) output.handle({ kind: 'notice', level: 'info', text: changed, topic: 'release' });
    const phase = { output, marker, watchdog, killer, timeoutMs: options.timeoutMs, splitStderr: options.splitStderr };
    const stopped = await startReleasePhase(plan.release, wantsReleasePhase(options), phase);
    if (stopped !== undefined) {
      await finish();
      watchdog.release();
      return stopped;
    }
    const services = reportServices(config, plan.instances, (line) => output.handle({ kind: 'notice', topic: 'service', ...line }));
    // mkfifo makes the instances' FIFOs while the ports are probed, rather than holding up the first
    // spawn; only now, so that their names are on disk for as short a time as can be.
    const fifosMade = plan.instances.length > 0 ? fifos.prepare() : Promise.resolve();
    // Probed right before the instances start, so a warning tells what they will meet.
    const ports = await checkPorts(plan.instances);
    for (const warning of [...plan.warnings, ...ports.warnings]) output.handle({ kind: 'warning', warning });
    await fifosMade;
    const debug = context.env.TF_LOG === 'debug' ? (line: string) => void context.stderr.write(`tf: debug: ${line}\n`) : undefined;
    supervisor = new Supervisor(
      plan.instances,
      { timeoutMs: options.timeoutMs, debug, splitStderr: options.splitStderr, marker, fifos },
      (event) => {
        output.handle(event);
        if (event.kind === 'removed') logs.forget(event.instance.name);
        if (event.kind === 'stopping') control?.stopping();
      },
      { watchdog, killer, clock: realClock, readiness: watchReadiness({ scheduler: realClock, takenPorts: ports.inUse }) },
    );
    const running = supervisor;
    control = new StartControl({
      supervisor: running,
      logs,
      config,
      reload: () => withReleaseId(loadConfig(request, sources), releaseEnvName(options)).config,
      warn: (warning) => output.handle({ kind: 'warning', warning }),
      planOptions,
    });
    if (writer.closed) running.stop({ kind: 'output-closed' });
    const onStop = (signal: NodeJS.Signals): void => running.signal(signal);
    const onForward = (signal: NodeJS.Signals): void => running.forward(signal);
    for (const signal of STOP_SIGNALS) process.on(signal, onStop);
    for (const signal of FORWARD_SIGNALS) process.on(signal, onForward);
    let code: number;
    try {
      code = await running.run();
    } finally {
      services.abort();
      for (const signal of STOP_SIGNALS) process.off(signal, onStop);
      for (const signal of FORWARD_SIGNALS) process.off(signal, onForward);
      // Released only once stdout took everything: a tf killed while a stalled reader holds it up
      // still has its socket and FIFO names removed by the watchdog.
      await finish();
      watchdog.release();
    }
    // The reader can leave unnoticed until tf writes again (a quiet child's exit notice, written by
    // finish at the latest): that is still a closed stdout.
    return code === 0 && writer.closed ? 141 : code;
  } finally {
    control?.close();
    await Promise.all([server.close(), fifos?.discard()]);
  }
}

/** A Procfile whose only entry is `release`: it runs as a phase, never as a process, so start would wait on nothing. */
const nothingToStart = (procfile: string): TfError =>
  new TfError('formation', `nothing to run: ${procfile} has only a release entry, which tf start does not run as a process`, {
    hint: 'tf release runs it; add the app\'s processes (e.g. "web: node server.js") for tf start',
  });
