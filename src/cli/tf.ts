import { main } from './main.js';

// No top-level await: the CLI is bundled as one CommonJS file, which starts faster.
void main(process.argv.slice(2), {
  cwd: process.cwd(),
  env: process.env as Record<string, string>,
  stdout: process.stdout,
  stderr: process.stderr,
}).then((code) => process.exit(code));
