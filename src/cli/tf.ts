import { main } from './main.js';

const code = await main(process.argv.slice(2), {
  cwd: process.cwd(),
  env: process.env as Record<string, string>,
  stdout: process.stdout,
  stderr: process.stderr,
});
process.exit(code);
