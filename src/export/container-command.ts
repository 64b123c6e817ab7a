import { parse } from 'shell-quote';
import { isSimpleCommand } from '../plan/launch.js';

/**
 * How a Procfile command becomes a container's command, so that the program and not a shell is
 * PID 1 where that is possible: PID 1 is the process the engine signals on stop, and a shell
 * there neither forwards the signal nor, without a handler, reacts to SIGTERM at all.
 */
export type ContainerCommand =
  /** A simple command with nothing for a shell to expand: the words themselves, no shell. */
  | { readonly kind: 'direct'; readonly argv: readonly string[] }
  /** A simple command with `$VAR`, globs, `~` or backquotes: the shell expands, then `exec`s it. */
  | { readonly kind: 'shell-exec'; readonly argv: readonly string[] }
  /** Pipes, lists, redirections, assignments, builtins: the shell stays, as PID 1. */
  | { readonly kind: 'shell'; readonly argv: readonly string[] };

/** Characters shell-quote passes through as plain text but a shell would still expand. */
const SHELL_ONLY = /[`~]/;

/**
 * `prelude` is shell text run first (see extensions.ts): with one, even a simple command goes
 * through the shell, which then `exec`s it.
 */
export function containerCommand(command: string, prelude = ''): ContainerCommand {
  if (!isSimpleCommand(command)) return { kind: 'shell', argv: ['/bin/sh', '-c', prelude + command] };
  if (prelude !== '') return { kind: 'shell-exec', argv: ['/bin/sh', '-c', `${prelude}exec ${command}`] };
  let expands = SHELL_ONLY.test(command);
  const tokens = parse(command, (name) => {
    expands = true;
    return `$${name}`;
  });
  const words = tokens.filter((t): t is string => typeof t === 'string');
  if (expands || words.length !== tokens.length) return { kind: 'shell-exec', argv: ['/bin/sh', '-c', `exec ${command}`] };
  return { kind: 'direct', argv: words };
}

/**
 * Both Kubernetes (`$(VAR)` in command and args) and Compose (`$VAR` in any string of the file)
 * expand `$` in what they read, and both read `$$` as one literal `$`: doubling every `$` hands
 * the command to the container byte for byte.
 */
export const literalDollars = (text: string): string => text.replaceAll('$', '$$$$');
