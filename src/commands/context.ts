import type { Writable } from 'node:stream';
import type { Env } from '../domain.js';

/** What a command may touch of the outside world; main passes the real process's. */
export interface CommandContext {
  readonly cwd: string;
  readonly env: Env;
  readonly stdout: Writable & { isTTY?: boolean };
  readonly stderr: Writable;
}
