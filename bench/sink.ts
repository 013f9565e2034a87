/**
 * The benchmark's target: an HTTP server in its own process answering 204 to everything and
 * counting what it got. Forked by bench/e2e.ts; tells its port over IPC and answers 'count'.
 * A path under /slow is a target that answers every request after SINK_SLOW_MS (5 s), and is not counted.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How long a target under /slow takes to answer (bench/e2e.ts sets it). */
const SLOW_TARGET_MS = Number(process.env.SINK_SLOW_MS ?? 5_000);

let received = 0;
const server = createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    if (request.url?.startsWith('/slow')) {
      setTimeout(() => {
        response.writeHead(204);
        response.end();
      }, SLOW_TARGET_MS);
      return;
    }
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
