import type { Invocation } from '../cli/args.js';
import type { ScaleChange } from '../control/protocol.js';
import { usageError } from '../errors.js';
import type { CommandContext } from './context.js';
import { askAndTell } from './control-client.js';

const CHANGE = /^([^=\s]+)=([+-]?)(\d+)$/;

/** `web=3` sets the count, `web=+2` / `web=-1` change it. */
export function parseScale(words: readonly string[]): ScaleChange[] {
  if (words.length === 0) throw usageError('tf scale needs TYPE=N', 'e.g. "tf scale web=3 worker=0" or "tf scale web=+1"');
  const named = new Set<string>();
  return words.map((word) => {
    const match = CHANGE.exec(word);
    if (match === null) throw usageError(`bad scale "${word}"`, 'write TYPE=N, TYPE=+N or TYPE=-N, e.g. web=3');
    const [, type = '', sign = '', digits = '0'] = match;
    // As in -m: which of two counts was meant is not for tf to guess.
    if (named.has(type)) throw usageError(`${type} is named twice in tf scale`, `give each type once, e.g. tf scale ${type}=${digits}`);
    named.add(type);
    const n = Number(digits);
    if (n > 1000) throw usageError(`bad scale "${word}": at most 1000 instances`, 'pick a smaller number');
    return { type, count: sign === '' ? n : { delta: sign === '-' ? -n : n } };
  });
}

/** `tf scale TYPE=N...`: the running formation changes; new instances get foreman's ports. */
export function scale(invocation: Invocation, context: CommandContext): Promise<number> {
  return askAndTell(invocation, context, { cmd: 'scale', scale: parseScale(invocation.rest) });
}
