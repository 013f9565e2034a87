/**
 * One delivery attempt (workers/deliver/attempt.ts) against a plain HTTP server on 127.0.0.1 that
 * tells which connection each request came on: a target's client keeps its connection alive and
 * reuses it once an answer is read to its end, reads no more of an answer than
 * delivery.maxResponseBytes, reports how long the attempt took and closes its connections on close().
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createTargetClient, type TargetClient } from '../../workers/deliver/attempt.js';
import { testConfig } from '../helpers/config.js';
import { callback } from '../helpers/delivery.js';

const LIMIT = 1_024;

interface Seen {
  /** The client's port: the same port is the same (reused) connection. */
  remotePort: number;
  connection: string | undefined;
  acceptEncoding: string | undefined;
}

/** How the server answers: 200 with `bytes` bytes after `delayMs`, a status with headers, or never. */
type Answer = { bytes: number; delayMs?: number } | { status: number; headers: Record<string, string> } | { hold: true };

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const step of cleanups.splice(0).reverse()) await step();
});

/** A server answering 200 with `answerBytes` bytes after `delayMs`, or as `answer` says. */
async function server(answerBytes: number, delayMs = 0, answer: Answer = { bytes: answerBytes, delayMs }): Promise<{ url: string; seen: Seen[]; open: () => number }> {
  const seen: Seen[] = [];
  let open = 0;
  const http: Server = createServer((request, response) => {
    seen.push({ remotePort: request.socket.remotePort!, connection: request.headers.connection, acceptEncoding: request.headers['accept-encoding'] });
    request.resume();
    request.on('end', () => {
      if ('hold' in answer) return;
      if ('status' in answer) return void response.writeHead(answer.status, answer.headers).end();
      setTimeout(() => response.writeHead(200, { 'content-type': 'text/plain' }).end(Buffer.alloc(answer.bytes, 120)), answer.delayMs ?? 0);
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

function client(url: string, timeout = 5_000): TargetClient {
  const config = testConfig({ redisUrl: 'redis://127.0.0.1:9', targets: [{ name: 't', url, timeout }], delivery: { maxResponseBytes: LIMIT } });
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
      const result = await delivering.attempt(callback(), attempt);
      expect(result.status).toBe(200);
      expect(result.error).toBeUndefined();
    }
    expect(target.seen.map((request) => request.connection)).toEqual(['keep-alive', 'keep-alive', 'keep-alive']);
    // It never asks for a compressed answer: it reads only the status.
    expect(target.seen.map((request) => request.acceptEncoding)).toEqual([undefined, undefined, undefined]);
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

  it('reports a status that is not 2xx with its meaning, Retry-After included', async () => {
    const target = await server(0, 0, { status: 503, headers: { 'retry-after': '7' } });
    const result = await client(target.url).attempt(callback(), 1);
    expect(result.status).toBe(503);
    expect(result.error).toMatchObject({ message: 'target answered 503 Service Unavailable (Retry-After 7s)', retryable: true, retryAfterMs: 7_000 });
  });

  it('does not follow a redirect', async () => {
    const elsewhere = await server(10);
    const target = await server(0, 0, { status: 302, headers: { location: elsewhere.url } });
    const result = await client(target.url).attempt(callback(), 1);
    expect(result.status).toBe(302);
    expect(result.error?.message).toBe(`target answered 302 Found: redirect to ${elsewhere.url} not followed`);
    expect(elsewhere.seen).toHaveLength(0);
  });

  it('reports a refused connection and a timeout as retryable failures without a status', async () => {
    const closed = await server(10);
    const url = closed.url;
    await cleanups.pop()!();
    const refused = await client(url).attempt(callback(), 1);
    expect(refused.status).toBeUndefined();
    expect(refused.error).toMatchObject({ retryable: true, message: expect.stringMatching(/^request failed \(ECONNREFUSED\): /) });

    const silent = await server(0, 0, { hold: true });
    const timedOut = await client(silent.url, 200).attempt(callback(), 1);
    expect(timedOut.status).toBeUndefined();
    expect(timedOut.error).toMatchObject({ retryable: true, message: 'no answer within 200 ms (timeout)' });
  });

  it('cuts an attempt in flight on abortInFlight(), which then reports no status', async () => {
    const silent = await server(0, 0, { hold: true });
    const delivering = client(silent.url);
    const pending = delivering.attempt(callback(), 1);
    await expect.poll(() => silent.seen.length).toBe(1);
    delivering.abortInFlight();
    const result = await pending;
    expect(result.status).toBeUndefined();
    expect(result.error).toMatchObject({ retryable: true, message: expect.stringMatching(/^request failed.*: aborted by shutdown$/) });
  });
});
