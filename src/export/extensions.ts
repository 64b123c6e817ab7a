import type { EnvExtension } from './types.js';

/**
 * A value that extends its own variable (`PATH=./bin:$PATH`) means "on top of whatever the process
 * is given": `tf start` applies it on top of the shell's value, and an export on top of the target's
 * (the service manager's PATH, the image's). No unit or manifest setting expands a variable from the
 * environment a process is started with, so the export applies it in the shell that starts the process.
 */

/** Text a shell takes as it is, unquoted, in an assignment (no `~`, which it would expand after `=` and `:`). */
const PLAIN = /^[A-Za-z0-9_./:@%+,=-]+$/;

const shellText = (text: string): string => (PLAIN.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`);

/** `KEY=...; export KEY; ` for each, in env-file order, to put before a command in `sh -c`; '' for none. */
export function extensionPrelude(extensions: readonly EnvExtension[]): string {
  return extensions
    .map(({ key, parts }) => {
      const value = parts.map((part) => ('text' in part ? shellText(part.text) : `"$${part.variable}"`)).join('');
      return `${key}=${value}; export ${key}; `;
    })
    .join('');
}
