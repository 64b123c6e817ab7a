import type { Options } from '../cli/args.js';
import type { Plan } from '../domain.js';
import { useColor } from '../output/colors.js';
import type { Format } from '../output/format.js';
import type { Notice } from '../output/notices.js';
import { Output, type OutputTap } from '../output/output.js';
import { PrettyFormat } from '../output/pretty.js';
import { Writer } from '../output/writer.js';
import type { CommandContext } from './context.js';

/** The part of a supervisor the output needs: backpressure and a stop when stdout goes away. */
export interface OutputControl {
  pauseOutput(): void;
  resumeOutput(): void;
  stop(reason: { readonly kind: 'output-closed' }): void;
}

/** Everything that prints the instances' output and tf's notices on stdout, set up the same way for every command that runs a formation. */
export interface ServiceOutput {
  readonly output: Output;
  readonly writer: Writer;
  /** Colour for the children too (FORCE_COLOR), decided before the plan is built. */
  readonly color: boolean;
  /** A notice of tf's own that is no supervisor event, in the chosen format, in order with the rest. */
  notice(notice: Notice): void;
  /** Writes what is held back and waits until stdout has taken it. */
  finish(): Promise<void>;
}

async function formatFor(options: Options, color: boolean, width: number): Promise<Format> {
  if (!options.json) return new PrettyFormat({ color, timestamp: options.timestamp, width });
  // pino is loaded only for --json, so plain output starts faster.
  const { JsonFormat } = await import('../output/json.js');
  return new JsonFormat();
}

/** Whether tf's output is in colour: `--color`, the terminal, NO_COLOR / FORCE_COLOR; never with --json. */
export const outputColor = (options: Options, context: CommandContext): boolean =>
  !options.json && useColor({ requested: options.color, isTTY: context.stdout.isTTY === true, env: context.env });

/**
 * `start`'s stdout machinery: the format (`--json`, colour, timestamps, prefix width), the
 * Writer with its backpressure hooks wired to the supervisor `control()` returns once it
 * exists, and Output on top.
 */
export async function openServiceOutput(
  options: Options,
  context: CommandContext,
  plan: Plan,
  color: boolean,
  control: () => OutputControl | undefined,
  /** Sees every line start prints (the log book behind `tf logs`). */
  tap?: OutputTap,
): Promise<ServiceOutput> {
  // The release phase prints as `release` before the instances.
  const width = Math.max('system'.length, plan.release === undefined ? 0 : 'release'.length, ...plan.instances.map((i) => i.name.length));
  const format = await formatFor(options, color, width);
  const writer: Writer = new Writer(context.stdout, {
    onBlocked: () => control()?.pauseOutput(),
    onDrained: () => {
      control()?.resumeOutput();
      // What the last turn staged while stdout was blocked (Output's endOfTurn); this may block again, and pause.
      output.flush();
    },
    onClosed: () => {
      // Nothing more can be shown: the children's pipes are read on (and dropped), never left full.
      control()?.resumeOutput();
      control()?.stop({ kind: 'output-closed' });
    },
  });
  const output = new Output(format, writer, tap);
  return {
    output,
    writer,
    color,
    notice: (notice) => output.notice(format.notice(notice)),
    finish: async () => {
      output.flush();
      await writer.flushed();
    },
  };
}
