// A clock process: writes a coloured tick to stderr every 2 seconds (tf keeps the child's
// colours and resets them before the next prefix), and exits on SIGTERM by default.
const green = '\x1b[32m';
setInterval(() => process.stderr.write(`${green}tick ${new Date().toISOString()}\n`), 2000);
console.log('clock started');
