/**
 * The receiver role: the public listener on `server.host:server.port`, its callback store, the
 * outage spool behind it (and the spool's drain), and a start-up check of the Redis settings.
 * Called by the CLI (`start --role receiver|all`).
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RelayConfig } from '../config/load.js';
import { closeServer } from '../http/close-server.js';
import type { Logger } from '../lib/logger.js';
import { CallbackStore } from '../intake/callback-store.js';
import { RejectedLog } from '../rejected/log.js';
import { checkRedisSettings } from '../redis/check.js';
import { closeConnection, createProducerConnection } from '../redis/connection.js';
import { SpoolDrain } from '../spool/drain.js';
import type { SpooledCallback } from '../spool/record.js';
import { Spool, type SpoolStatus } from '../spool/spool.js';
import { SpoolingStore } from '../spool/spooling-store.js';
import { createReceiverApp } from './app.js';
import type { RejectedRequest } from '../rejected/sample.js';
import { Rejections } from '../rejected/rejections.js';

export interface ReceiverHandle {
  server: Server;
  /** The bound port (useful with `server.port: 0`). */
  port: number;
  /** The outage spool's state; undefined with `spool: false`. */
  spoolStatus(): SpoolStatus | undefined;
  /** Stops listening, lets requests in flight finish (briefly), stops the drain, then closes the spool and Redis. */
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
 * Opens the spool (reading back what the last run left in it), then starts listening. While Redis
 * is unreachable callbacks are spooled (with `spool: false`, or a full spool, they get 503 and
 * /readyz says so); the receiver recovers by itself when Redis comes back.
 */
export async function startReceiver(config: RelayConfig, options: ReceiverOptions): Promise<ReceiverHandle> {
  const logger = options.logger.child({ component: 'receiver' });
  const store = CallbackStore.open(config, logger);
  let spool: Spool | undefined;
  try {
    spool = config.spool ? await Spool.open(config.spool, logger) : undefined;
  } catch (error) {
    await store.close();
    throw error;
  }
  checkSettingsWhenConnected(store, logger);
  // Its own connection: a flood of refused requests never queues in front of the callbacks'
  // writes, and its failures (logged once by RejectedLog) never affect them. Samples may wait for
  // it to connect (a start-up is no outage), each at most the command timeout, at most 64 at once.
  const rejectedConnection = createProducerConnection(config.redis, { name: 'rejected-log', overrides: { enableOfflineQueue: true } });
  const rejections = new Rejections(new RejectedLog(rejectedConnection, config.redis.prefix, logger), logger);
  const now = options.now ?? Date.now;
  const drain = spool && new SpoolDrain(spool, store, { logger: logger.child({ component: 'spool' }), onReplayed: (spooled) => rejections.report(replayedAtDrain(spooled, now())) });
  drain?.start();
  const spoolStatus = () => spool?.status();

  const app = createReceiverApp({
    config, store: spool ? new SpoolingStore(store, spool) : store, redis: store.connection, logger, rejections, now, spool: spoolStatus,
  });
  const server = createServer(app.callback());
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.listen(config.server.port, config.server.host);
  try {
    await once(server, 'listening');
  } catch (error) {
    await drain?.stop();
    await spool?.close();
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
      // What is still spooled stays on disk: the next start drains it.
      await drain?.stop();
      await spool?.close();
      // The refusals of the last minute not yet summarised would otherwise never be logged.
      rejections.flush();
      await closeConnection(rejectedConnection);
      await store.close();
    })();
    return closing;
  };
  return { server, port, spoolStatus, close };
}

/** A spooled callback the intake script refused as a replay, for the rejected list. */
function replayedAtDrain({ callback }: SpooledCallback, at: number): RejectedRequest {
  return {
    status: 401,
    code: 'replayed_nonce',
    message: 'this nonce was already used with a different callback (found when the spool was drained; the callback was acknowledged and dropped)',
    contentType: undefined,
    body: Buffer.from(callback.body, 'utf8'),
    at,
  };
}

/**
 * Once per process, as soon as Redis first answers (it may be down at start-up). The store's
 * connection was just created, so it is never ready yet.
 */
function checkSettingsWhenConnected(store: CallbackStore, logger: Logger): void {
  store.connection.once('ready', () => void checkRedisSettings(store.connection, logger));
}
