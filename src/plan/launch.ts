import { parse } from 'shell-quote';
import type { Launch } from '../domain.js';
import { SHELL_WORDS } from '../host/shell.js';

const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;
/** shell-quote's operator characters: each is an operator wherever it stands, unless quoted or escaped. */
const OPERATOR = /[;&|<>()]/;
/** What can quote, escape or expand: with none of it in a command, an operator character is an operator. */
const QUOTING = /['"\\$`]/;

/**
 * True when the command is one simple command (`node server.js --port $PORT`), which the
 * shell can `exec` so that no idle shell sits between tf and the program. shell-quote does
 * the tokenising; anything it reports as an operator, comment or redirection keeps the shell.
 */
export function isSimpleCommand(command: string): boolean {
  // Known without tokenising: shell-quote builds its patterns anew for each parse.
  if (OPERATOR.test(command) && !QUOTING.test(command)) return false;
  return isSimpleByTokens(command);
}

/** The same judgement from shell-quote's tokens alone (exported for the test that checks the shortcut). */
export function isSimpleByTokens(command: string): boolean {
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
