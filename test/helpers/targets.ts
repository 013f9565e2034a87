/**
 * Real HTTP target servers on 127.0.0.1 for delivery tests. Each records what it received (raw
 * body bytes, headers, arrival time) and answers as the test's responder says: a status with
 * headers, after a delay, held open until released, or an endless body. It can go down (port
 * closed, connections cut) and come back up on the same port.
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ReceivedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** Raw header names and values in arrival order, to check exact spelling and no duplicates. */
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
  /** Date.now() when the body had fully arrived. */
  readonly at: number;
}

export type Reply =
  | { readonly status: number; readonly headers?: Record<string, string>; readonly body?: string; readonly delayMs?: number }
  /** Keep the request open until `release()` or close. */
  | { readonly hold: true }
  /** 200, then a body that never ends. */
  | { readonly endlessBody: true };

/** Decides the reply to the `index`-th request (0-based, counted over the server's life). */
export type Responder = (request: ReceivedRequest, index: number) => Reply;

export const ok: Responder = () => ({ status: 204 });
export const always = (status: number, headers?: Record<string, string>): Responder => () => ({ status, ...(headers ? { headers } : {}) });
/** Fails the first `failures` requests with `status`, then answers 200. */
export const flaky = (failures: number, status = 500): Responder => (_request, index) => ({ status: index < failures ? status : 200 });

export interface TargetServer {
  readonly url: string;
  readonly port: number;
  readonly requests: ReceivedRequest[];
  respond: Responder;
  /** Resolves with the first `count` requests, or rejects after `timeoutMs`. */
  waitForRequests(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  /** Answers every held request with `status` (default 200). */
  release(status?: number): void;
  /** Closes the port and cuts open connections: the target is down. */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startTargetServer(respond: Responder = ok, port = 0): Promise<TargetServer> {
  const requests: ReceivedRequest[] = [];
  const held = new Set<ServerResponse>();
  const sockets = new Set<Socket>();
  const waiters = new Set<() => void>();
  const endless = new Set<NodeJS.Timeout>();

  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const received: ReceivedRequest = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        rawHeaders: request.rawHeaders,
        body: Buffer.concat(chunks),
        at: Date.now(),
      };
      const index = requests.length;
      requests.push(received);
      for (const wake of waiters) wake();
      answer(response, target.respond(received, index));
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  const answer = (response: ServerResponse, reply: Reply) => {
    if ('hold' in reply) {
      held.add(response);
      response.on('close', () => held.delete(response));
      return;
    }
    if ('endlessBody' in reply) {
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(64 * 1024, 120);
      const timer = setInterval(() => response.write(chunk), 1);
      endless.add(timer);
      response.on('close', () => {
        clearInterval(timer);
        endless.delete(timer);
      });
      return;
    }
    const send = () => {
      if (response.destroyed) return;
      response.writeHead(reply.status, reply.headers);
      response.end(reply.body ?? '');
    };
    if (reply.delayMs) setTimeout(send, reply.delayMs);
    else send();
  };

  const listen = (onPort: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(onPort, '127.0.0.1', () => {
        server.off('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  const stopListening = () =>
    new Promise<void>((resolve) => {
      for (const timer of endless) clearInterval(timer);
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });

  const boundPort = await listen(port);
  const target: TargetServer = {
    url: `http://127.0.0.1:${boundPort}/hook`,
    port: boundPort,
    requests,
    respond,
    waitForRequests(count, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (requests.length < count) return;
          cleanup();
          resolve(requests.slice(0, count));
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`target got ${requests.length} of ${count} requests within ${timeoutMs} ms`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    release(status = 200) {
      for (const response of held) {
        response.writeHead(status);
        response.end();
      }
      held.clear();
    },
    down: stopListening,
    async up() {
      await listen(boundPort);
    },
    close: async () => {
      if (server.listening) await stopListening();
    },
  };
  return target;
}
