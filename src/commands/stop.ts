import type { Invocation } from '../cli/args.js';
import type { CommandContext } from './context.js';
import { askAndTell } from './control-client.js';

/** `tf stop NAME|TYPE...` stops those instances (they stay listed); `tf stop` alone stops tf, as SIGTERM does, and it exits 0. */
export function stop(invocation: Invocation, context: CommandContext): Promise<number> {
  const names = invocation.rest;
  return askAndTell(invocation, context, names.length === 0 ? { cmd: 'shutdown' } : { cmd: 'stop', names });
}
