import type { Invocation } from '../cli/args.js';
import { toSignalName } from '../control/protocol.js';
import { usageError } from '../errors.js';
import type { CommandContext } from './context.js';
import { askAndTell } from './control-client.js';

/** `tf signal SIGNAL [NAME|TYPE...]`: to those instances' process groups (none: all that run). */
export function signal(invocation: Invocation, context: CommandContext): Promise<number> {
  const [given, ...names] = invocation.rest;
  if (given === undefined) throw usageError('tf signal needs a signal', 'e.g. "tf signal USR2 web" or "tf signal HUP"');
  const name = toSignalName(given);
  if (name === undefined) throw usageError(`unknown signal "${given}"`, 'give a name (USR2, SIGHUP) or a number (12)');
  return askAndTell(invocation, context, { cmd: 'signal', signal: name, names });
}
