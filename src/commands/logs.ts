import type { Invocation } from '../cli/args.js';
import { stream } from '../control/client.js';
import { isFinal, type StreamBody } from '../control/protocol.js';
import type { Instance } from '../domain.js';
import { TfError, usageError } from '../errors.js';
import { SecondsClock } from '../output/clock.js';
import { useColor } from '../output/colors.js';
import type { Format } from '../output/format.js';
import type { Notice } from '../output/notices.js';
import { PrettyFormat } from '../output/pretty.js';
import type { CommandContext } from './context.js';
import { ask, targetOf } from './control-client.js';

const DEFAULT_LINES = 100;
const MAX_LINES = 100_000;

function lineCount(invocation: Invocation): number {
  const given = invocation.options.lines;
  if (given === undefined) return DEFAULT_LINES;
  const n = Number(given.raw);
  if (!/^\d+$/.test(given.raw.trim()) || n > MAX_LINES)
    throw usageError(`bad value ${JSON.stringify(given.raw)} for ${given.source}`, `expected a whole number of lines from 0 to ${MAX_LINES}`);
  return n;
}

/** What a format needs of an instance to label its lines: its name, type and palette colour. */
type Label = Pick<Instance, 'name' | 'type' | 'color'>;

/**
 * `tf logs [NAME|TYPE...] [-n N] [-F]`: the last N lines from the running tf's rings, in
 * start's format (prefixed text, or --json), then with -F every new line until Ctrl-C or
 * until that tf ends.
 */
export async function logs(invocation: Invocation, context: CommandContext): Promise<number> {
  const { options } = invocation;
  const lines = lineCount(invocation);
  // The instances first: they give the column width and colours start uses (types in formation order).
  const { instances } = await ask(invocation, context, { cmd: 'ps' });
  const types = [...new Set(instances.map((i) => i.type))];
  const labels = new Map<string, Label>();
  const labelOf = (name: string): Label => {
    let label = labels.get(name);
    if (label === undefined) {
      const type = name.slice(0, name.lastIndexOf('.'));
      if (!types.includes(type)) types.push(type);
      label = { name, type, color: types.indexOf(type) };
      labels.set(name, label);
    }
    return label;
  };
  // Each line shows when start received it, not when it is printed here.
  let at = Date.now();
  const format: Format = options.json
    ? new (await import('../output/json.js')).JsonFormat(() => at)
    : new PrettyFormat({
        color: useColor({ requested: options.color, isTTY: context.stdout.isTTY === true, env: context.env }),
        timestamp: options.timestamp,
        width: Math.max('system'.length, ...instances.map((i) => i.name.length)),
        clock: new SecondsClock(() => at),
      });

  // A reader that went away (`tf logs -F | head`) ends the command, not with an error: it got what it wanted.
  let readerGone = false;
  const gone = new Promise<void>((resolve) =>
    context.stdout.once('error', () => {
      readerGone = true;
      resolve();
    }),
  );
  const write = (text: Buffer | string): Promise<void> | undefined =>
    context.stdout.write(text) ? undefined : Promise.race([new Promise<void>((resolve) => context.stdout.once('drain', resolve)), gone]);
  const notice = (text: string, fields: Notice['fields']): Buffer | string => {
    at = Date.now();
    return format.notice({ text, level: 'warn', fields });
  };
  const show = (message: StreamBody): Buffer | string => {
    if (message.kind === 'dropped')
      return notice(`${message.count} lines of ${message.name} dropped here: tf logs did not keep up`, {
        event: 'dropped',
        name: message.name,
        count: message.count,
      });
    at = message.time;
    const bytes = message.raw === undefined ? Buffer.from(message.text) : Buffer.from(message.raw, 'base64');
    return format.lines(
      labelOf(message.name) as Instance,
      message.stream,
      [{ bytes, continued: message.continued === true, redraw: false, open: false }],
      false,
    );
  };

  for await (const message of stream(targetOf(invocation, context), { cmd: 'logs', names: invocation.rest, lines, follow: options.follow })) {
    if (!isFinal(message)) {
      await write(show(message));
      if (readerGone) break;
      continue;
    }
    if (!message.ok) throw new TfError('option', message.error.message);
    if ('reason' in message && message.reason === 'shutdown') await write(notice('tf stopped', { event: 'shutdown' }));
  }
  return 0;
}
