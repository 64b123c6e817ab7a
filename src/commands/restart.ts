import type { Invocation } from '../cli/args.js';
import type { CommandContext } from './context.js';
import { askAndTell } from './control-client.js';

/** `tf restart [NAME|TYPE...]`: none restarts all; the running tf re-reads its env files and Procfile first. */
export function restart(invocation: Invocation, context: CommandContext): Promise<number> {
  return askAndTell(invocation, context, { cmd: 'restart', names: invocation.rest });
}
