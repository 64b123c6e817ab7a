import type { Writable } from 'node:stream';
import { main } from './main.js';

// A bug must not end in a stack trace, nor leave processes behind: exiting without
// releasing the watchdog makes it stop everything tf started.
const crash = (error: unknown): void => {
  const text = error instanceof Error ? error.message : String(error);
  process.stderr.write(`tf: internal error: ${text}; please report it (TF_LOG=debug shows the stack)\n`);
  if (process.env.TF_LOG === 'debug' && error instanceof Error) process.stderr.write(`${error.stack ?? ''}\n`);
  process.exit(70);
};
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);

/**
 * Resolves once everything written to `stream` has left the process. A pipe takes what fits
 * in its buffer at once and the rest later, so exiting right after the last write would cut
 * the output short. A reader that went away (EPIPE) ends the wait too: there is nobody to
 * write for.
 */
function flushed(stream: Writable): Promise<void> {
  if (stream.writableLength === 0 || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    // Kept to the end: the stream emits the error after the write's callback has run.
    stream.on('error', () => resolve());
    // Writes complete in order: this one's callback runs after every earlier write has.
    stream.write('', () => resolve());
  });
}

// main resolves to the exit code; it never throws. tf exits explicitly rather than when the
// event loop empties, so that a handle a command forgot cannot keep it alive.
void main(process.argv.slice(2), {
  cwd: process.cwd(),
  env: process.env as Record<string, string>,
  stdout: process.stdout,
  stderr: process.stderr,
}).then(async (code) => {
  // The marker lets a test hold its reader until tf is waiting for it.
  if (process.env.TF_LOG === 'debug' && process.stdout.writableLength > 0)
    process.stderr.write(`tf: debug: waiting for stdout to take ${process.stdout.writableLength} more bytes\n`);
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
});
