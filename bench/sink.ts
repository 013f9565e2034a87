/**
 * The benchmark's target: an HTTP server in its own process answering 204 to everything and
 * counting what it got. Forked by bench/e2e.ts; tells its port over IPC and answers 'count'.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

let received = 0;
const server = createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    received += 1;
    response.writeHead(204);
    response.end();
  });
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
process.on('message', (message) => {
  if (message === 'count') process.send?.({ count: received });
  if (message === 'reset') received = 0;
});
process.on('disconnect', () => process.exit(0));
