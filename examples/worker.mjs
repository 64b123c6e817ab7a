// A worker: logs a line every second and exits cleanly on SIGTERM.
let jobs = 0;
const timer = setInterval(() => console.log(`processed job ${++jobs}`), 1000);
console.log(`worker ${process.env.PS ?? ''} waiting for jobs`);
process.on('SIGTERM', () => {
  clearInterval(timer);
  console.log(`SIGTERM received after ${jobs} jobs, exiting`);
  process.exit(0);
});
