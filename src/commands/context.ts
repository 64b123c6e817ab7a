import type { Writable } from 'node:stream';
import type { Env, Warning } from '../domain.js';
import { describePlace } from '../errors.js';

/** What a command may touch of the outside world; main passes the real process's. */
export interface CommandContext {
  readonly cwd: string;
  readonly env: Env;
  readonly stdout: Writable & { isTTY?: boolean };
  readonly stderr: Writable;
}

/**
 * Config warnings on stderr, for commands whose stdout is a result (a listing, a command's own
 * output): prefixed `tf:` like tf's errors, as the lines may share a terminal with a child's.
 */
export function writeWarnings(stderr: Writable, warnings: readonly Warning[]): void {
  for (const w of warnings) stderr.write(`tf: warning: ${describePlace(w.file, w.line, w.message)}\n`);
}
