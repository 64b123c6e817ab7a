// A clock process: writes a coloured tick to stderr every 2 seconds (tf passes the child's
// colours through), and exits on SIGTERM by default.
const green = '\x1b[32m';
const reset = '\x1b[0m';
setInterval(() => process.stderr.write(`${green}tick${reset} ${new Date().toISOString()}\n`), 2000);
console.log('clock started');
