/**
 * The receiver role: the public listener on `server.host:server.port`, its callback store and a
 * start-up check of the Redis settings. Called by the CLI (`start --role receiver|all`).
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RelayConfig } from '../config/load.js';
import { closeServer } from '../lib/close-server.js';
import type { Logger } from '../lib/logger.js';
import { CallbackStore } from '../store/callback-store.js';
import { RejectedLog } from '../store/rejected-log.js';
import { checkRedisSettings } from '../store/redis-check.js';
import { createProducerConnection } from '../store/redis.js';
import { createReceiverApp } from './app.js';
import { Rejections } from './rejections.js';

export interface ReceiverHandle {
  server: Server;
  /** The bound port (useful with `server.port: 0`). */
  port: number;
  /** Stops listening, lets requests in flight finish (briefly), then closes the queues and Redis. */
  close(): Promise<void>;
}

export interface ReceiverOptions {
  logger: Logger;
  /** Milliseconds since the epoch. @defaultValue Date.now */
  now?: () => number;
}

/** A slow sender may hold a connection this long at most (bounds slowloris-style clients). */
const REQUEST_TIMEOUT_MS = 30_000;
/** On close, requests in flight get this long before their connections are cut. */
const CLOSE_GRACE_MS = 2_000;

/**
 * Starts listening at once. While Redis is unreachable callbacks get 503 and /readyz says so; the
 * receiver recovers by itself when Redis comes back.
 */
export async function startReceiver(config: RelayConfig, options: ReceiverOptions): Promise<ReceiverHandle> {
  const logger = options.logger.child({ component: 'receiver' });
  const store = CallbackStore.open(config, logger);
  checkSettingsWhenConnected(store, logger);
  // Its own connection: a flood of refused requests never queues in front of the callbacks'
  // writes, and its failures (logged once by RejectedLog) never affect them. Samples may wait for
  // it to connect (a start-up is no outage), each at most the command timeout, at most 64 at once.
  const rejectedConnection = createProducerConnection(config.redis, { name: 'rejected-log', overrides: { enableOfflineQueue: true } });
  rejectedConnection.on('error', () => {});
  const rejections = new Rejections(new RejectedLog(rejectedConnection, config.redis.prefix, logger), logger);

  const app = createReceiverApp({
    config, store, redis: store.connection, logger, rejections, ...(options.now ? { now: options.now } : {}),
  });
  const server = createServer(app.callback());
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.listen(config.server.port, config.server.host);
  try {
    await once(server, 'listening');
  } catch (error) {
    rejectedConnection.disconnect();
    await store.close();
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  logger.info({ host: config.server.host, port, callbackPath: config.server.callbackPath }, 'receiver listening');

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await closeServer(server, CLOSE_GRACE_MS);
      // The refusals of the last minute not yet summarised would otherwise never be logged.
      rejections.flush();
      await rejectedConnection.quit().catch(() => rejectedConnection.disconnect());
      await store.close();
    })();
    return closing;
  };
  return { server, port, close };
}

/**
 * Once per process, as soon as Redis first answers (it may be down at start-up). The store's
 * connection was just created, so it is never ready yet.
 */
function checkSettingsWhenConnected(store: CallbackStore, logger: Logger): void {
  store.connection.once('ready', () => void checkRedisSettings(store.connection, logger));
}
