import { parse } from 'shell-quote';
import type { Launch } from '../domain.js';
import { SHELL_WORDS } from '../host/shell.js';

const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;

/**
 * True when the command is one simple command (`node server.js --port $PORT`), which the
 * shell can `exec` so that no idle shell sits between tf and the program. shell-quote does
 * the tokenising; anything it reports as an operator, comment or redirection keeps the shell.
 */
export function isSimpleCommand(command: string): boolean {
  let tokens: ReturnType<typeof parse>;
  try {
    tokens = parse(command, (name) => `$${name}`);
  } catch {
    return false;
  }
  const first = tokens[0];
  if (typeof first !== 'string' || SHELL_WORDS.has(first) || ASSIGNMENT.test(first)) return false;
  return tokens.every((t) => typeof t === 'string' || (typeof t === 'object' && 'op' in t && t.op === 'glob'));
}

/** Every command runs under /bin/sh -c with exact shell semantics; simple ones are exec'd. */
export function shellLaunch(command: string): Launch {
  return { file: '/bin/sh', args: ['-c', isSimpleCommand(command) ? `exec ${command}` : command] };
}
