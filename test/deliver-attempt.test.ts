/**
 * One delivery attempt (src/deliver/attempt.ts) against a plain HTTP server on 127.0.0.1 that
 * tells which connection each request came on: a target's client keeps its connection alive and
 * reuses it once an answer is read to its end, reads no more of an answer than
 * delivery.maxResponseBytes, reports how long the attempt took and closes its connections on close().
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createTargetClient, type TargetClient } from '../src/deliver/attempt.js';
import { callback, testConfig } from './helpers/delivery.js';

const LIMIT = 1_024;

interface Seen {
  /** The client's port: the same port is the same (reused) connection. */
  remotePort: number;
  connection: string | undefined;
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const step of cleanups.splice(0).reverse()) await step();
});

/** A server answering 200 with `answerBytes` bytes after `delayMs`. */
async function server(answerBytes: number, delayMs = 0): Promise<{ url: string; seen: Seen[]; open: () => number }> {
  const seen: Seen[] = [];
  let open = 0;
  const http: Server = createServer((request, response) => {
    seen.push({ remotePort: request.socket.remotePort!, connection: request.headers.connection });
    request.resume();
    request.on('end', () => {
      setTimeout(() => response.writeHead(200, { 'content-type': 'text/plain' }).end(Buffer.alloc(answerBytes, 120)), delayMs);
    });
  });
  http.on('connection', (socket) => {
    open += 1;
    socket.on('close', () => (open -= 1));
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  cleanups.push(() => {
    http.closeAllConnections();
    return new Promise((resolve) => http.close(resolve));
  });
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/hook`, seen, open: () => open };
}

function client(url: string): TargetClient {
  const config = testConfig({ redisUrl: 'redis://127.0.0.1:9', targets: [{ name: 't', url, timeout: 5_000 }], delivery: { maxResponseBytes: LIMIT } });
  const created = createTargetClient(config.targets[0]!, config.delivery);
  cleanups.push(() => created.close());
  return created;
}

describe('a delivery attempt', () => {
  it.each([
    ['a short answer', 10],
    ['an answer of exactly maxResponseBytes', LIMIT],
  ])('reads %s to its end and reuses the kept-alive connection for the next attempt', async (_name, size) => {
    const target = await server(size);
    const delivering = client(target.url);
    for (let attempt = 1; attempt <= 3; attempt += 1) {
      expect(await delivering.attempt(callback(), attempt)).toMatchObject({ status: 200 });
    }
    expect(target.seen.map((request) => request.connection)).toEqual(['keep-alive', 'keep-alive', 'keep-alive']);
    expect(new Set(target.seen.map((request) => request.remotePort)).size).toBe(1);
  });

  it('stops reading an answer beyond maxResponseBytes and opens a new connection next time', async () => {
    const target = await server(64 * LIMIT);
    const delivering = client(target.url);
    expect(await delivering.attempt(callback(), 1)).toMatchObject({ status: 200 });
    expect(await delivering.attempt(callback(), 2)).toMatchObject({ status: 200 });
    expect(new Set(target.seen.map((request) => request.remotePort)).size).toBe(2);
  });

  it('reports its duration in ms, to a tenth', async () => {
    const target = await server(10, 200);
    const started = performance.now();
    const result = await client(target.url).attempt(callback(), 1);
    const elapsed = performance.now() - started;
    expect(result.durationMs).toBeGreaterThanOrEqual(190);
    expect(result.durationMs).toBeLessThanOrEqual(elapsed + 1);
    expect(Math.round(result.durationMs * 10)).toBeCloseTo(result.durationMs * 10, 6);
  });

  it('closes its idle kept-alive connection on close()', async () => {
    const target = await server(10);
    const delivering = client(target.url);
    await delivering.attempt(callback(), 1);
    expect(target.open()).toBe(1);
    delivering.close();
    // Well before the server's own keep-alive timeout (5 s) would close it.
    await expect.poll(() => target.open(), { timeout: 1_000 }).toBe(0);
  });
});
