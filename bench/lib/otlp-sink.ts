/**
 * A collector that accepts OTLP/HTTP exports and discards them, in its own process (forked by
 * bench/tracing.ts): the tracing-on runs pay for building and sending spans, not for a collector
 * sharing their event loop. Tells its port over IPC; answers 'count' with the requests and bytes
 * it took.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

let requests = 0;
let bytes = 0;
const server = createServer((request, response) => {
  request.on('data', (chunk: Buffer) => (bytes += chunk.length));
  request.on('end', () => {
    requests += 1;
    // An empty ExportTraceServiceResponse, in the encoding that was sent.
    const json = (request.headers['content-type'] ?? '').includes('json');
    response.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
    response.end(json ? '{}' : '');
  });
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
process.on('message', (message) => {
  if (message === 'count') process.send?.({ requests, bytes });
});
process.on('disconnect', () => process.exit(0));
