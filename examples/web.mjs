// A web process: serves HTTP on $PORT with plain node:http and stops cleanly on SIGTERM.
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 5000);
const server = createServer((req, res) => {
  console.log(`${req.method} ${req.url}`);
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`hello from ${process.env.PS ?? 'web'} on port ${port}\n`);
});
server.listen(port, () => console.log(`listening on http://localhost:${port}`));
process.on('SIGTERM', () => {
  console.log('SIGTERM received, closing the server');
  server.close(() => process.exit(0));
});
