import type { Invocation } from '../cli/args.js';
import { loadConfig } from '../config/load.js';
import { ControlServer, type ControlHandler } from '../control/server.js';
import { prepareSocketDir } from '../control/socket-path.js';
import { busyPortWarnings } from '../host/ports.js';
import { useColor } from '../output/colors.js';
import type { Format } from '../output/format.js';
import { Output } from '../output/output.js';
import { PrettyFormat } from '../output/pretty.js';
import { Writer } from '../output/writer.js';
import { buildPlan } from '../plan/plan.js';
import { watchReadiness } from '../supervisor/readiness.js';
import { Supervisor, realClock } from '../supervisor/supervisor.js';
import { startWatchdog } from '../supervisor/watchdog.js';
import { processKiller } from '../supervisor/kill.js';
import { newRunMarker } from '../host/process-table.js';
import type { CommandContext } from './context.js';
import { socketFor } from './control-client.js';
import { StartControl } from './control-handler.js';
import { reportServices, waitForServices } from './config-commands.js';
import { LogBook } from './log-book.js';
import { RELEASE_NAME, releaseEnvName, releaseNotice, startReleasePhase, wantsReleasePhase, withReleaseId } from './release-phase.js';

const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const FORWARD_SIGNALS: readonly NodeJS.Signals[] = ['SIGUSR1', 'SIGUSR2'];

async function formatFor(invocation: Invocation, color: boolean, width: number): Promise<Format> {
  if (!invocation.options.json) return new PrettyFormat({ color, timestamp: invocation.options.timestamp, width });
  // pino is loaded only for --json, so plain output starts faster.
  const { JsonFormat } = await import('../output/json.js');
  return new JsonFormat();
}

export async function start(invocation: Invocation, context: CommandContext): Promise<number> {
  const { options } = invocation;
  const request = { options, only: invocation.rest };
  const sources = { cwd: context.cwd, shellEnv: context.env };
  const { config, current: release } = withReleaseId(loadConfig(request, sources), releaseEnvName(options));
  const color = !options.json && useColor({ requested: options.color, isTTY: context.stdout.isTTY === true, env: context.env });
  const planOptions = { childColor: color && context.stdout.isTTY === true };
  const plan = buildPlan(config, planOptions);
  const width = Math.max('system'.length, plan.release === undefined ? 0 : RELEASE_NAME.length, ...plan.instances.map((i) => i.name.length));
  await waitForServices(options, config, context);

  // Before anything is spawned: a second start for the same app is refused here, with nothing to undo.
  const socket = socketFor(invocation, context);
  if (socket.dir !== undefined) prepareSocketDir(socket.dir, process.getuid?.() ?? 0);
  let control: StartControl | undefined;
  const handler: ControlHandler = {
    handle: (request, reply) => (control === undefined ? reply.end({ ok: false, error: { code: 'failed', message: 'tf is still starting; try again' } }) : control.handle(request, reply)),
  };
  const server = await ControlServer.start({ path: socket.path, handler, app: { root: socket.root, procfile: socket.procfile } });
  try {
    let supervisor: Supervisor | undefined;
    const writer = new Writer(context.stdout, {
      onBlocked: () => supervisor?.pauseOutput(),
      onDrained: () => {
        supervisor?.resumeOutput();
        // What the last turn staged while stdout was blocked (Output's endOfTurn); this may block again, and pause.
        output.flush();
      },
      onClosed: () => supervisor?.stop({ kind: 'output-closed' }),
    });
    const logs = new LogBook();
    const output = new Output(await formatFor(invocation, color, width), writer, logs);
    const marker = newRunMarker();
    const watchdog = startWatchdog(marker);
    const killer = processKiller({ marker, forget: (pgid) => watchdog.remove(pgid), spare: () => (watchdog.pid === undefined ? [] : [watchdog.pid]) });
    const changed = releaseNotice(release);
    if (changed !== undefined) output.handle({ kind: 'notice', level: 'info', text: changed, topic: 'release' });
    const phase = { output, marker, watchdog, killer, timeoutMs: options.timeoutMs, splitStderr: options.splitStderr };
    const stopped = await startReleasePhase(plan.release, wantsReleasePhase(options), phase);
    if (stopped !== undefined) {
      watchdog.release();
      await writer.flushed();
      return stopped;
    }
    const services = reportServices(config, (line) => output.handle({ kind: 'notice', topic: 'service', ...line }));
    // Probed right before the instances start, so a warning tells what they will meet.
    for (const warning of [...plan.warnings, ...(await busyPortWarnings(plan.instances))]) output.handle({ kind: 'warning', warning });

    const debug = context.env.TF_LOG === 'debug' ? (line: string) => void context.stderr.write(`tf: debug: ${line}\n`) : undefined;
    supervisor = new Supervisor(
      plan.instances,
      { timeoutMs: options.timeoutMs, debug, splitStderr: options.splitStderr, marker },
      (event) => {
        output.handle(event);
        if (event.kind === 'removed') logs.forget(event.instance.name);
        if (event.kind === 'stopping') control?.stopping();
      },
      { watchdog, killer, clock: realClock, readiness: watchReadiness({ scheduler: realClock }) },
    );
    const running = supervisor;
    control = new StartControl({ supervisor: running, logs, config, reload: () => withReleaseId(loadConfig(request, sources), releaseEnvName(options)).config, planOptions });
    if (writer.closed) running.stop({ kind: 'output-closed' });
    const onStop = (signal: NodeJS.Signals): void => running.signal(signal);
    const onForward = (signal: NodeJS.Signals): void => running.forward(signal);
    for (const signal of STOP_SIGNALS) process.on(signal, onStop);
    for (const signal of FORWARD_SIGNALS) process.on(signal, onForward);
    try {
      return await running.run();
    } finally {
      services.abort();
      for (const signal of STOP_SIGNALS) process.off(signal, onStop);
      for (const signal of FORWARD_SIGNALS) process.off(signal, onForward);
      watchdog.release();
      output.flush();
      await writer.flushed();
    }
  } finally {
    control?.close();
    await server.close();
  }
}
