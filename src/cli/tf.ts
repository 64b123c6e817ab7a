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

// main resolves to the exit code; it never throws.
void main(process.argv.slice(2), {
  cwd: process.cwd(),
  env: process.env as Record<string, string>,
  stdout: process.stdout,
  stderr: process.stderr,
}).then((code) => process.exit(code));
