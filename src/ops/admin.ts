/**
 * The admin listener (`admin.host:admin.port`, private by default): Prometheus `/metrics`, Bull
 * Board under `/admin/queues` and the admin API under `/admin/api`, both behind basic auth (404
 * with no `admin.password`), `/healthz` and `/readyz`, and in development mode the demo sink.
 * None of this is on the public listener.
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import type { RelayConfig } from '../config/load.js';
import { BreakerStore } from '../deliver/breaker-store.js';
import { openQueues } from '../store/queues.js';
import { ADMIN_API_PATH, adminApi, refuseCrossSite } from './admin-api.js';
import { closeServer } from './close-server.js';
import { createProducerConnection } from '../store/redis.js';
import { basicAuth } from './basic-auth.js';
import { BULL_BOARD_PATH, bullBoardMiddleware } from './bull-board.js';
import { DEMO_SINK_PATH, demoSinkHandler } from './demo-sink.js';
import { healthRoutes } from './health.js';
import type { Logger } from './logger.js';
import { registry } from './metrics.js';
import { QueueMetricsCollector } from './queue-metrics.js';
import type { WatchedTarget } from './target-status.js';

const isUnder = (path: string, base: string): boolean => path === base || path.startsWith(`${base}/`);

export interface AdminHandle {
  readonly server: Server;
  /** The bound port (useful with `admin.port: 0`). */
  readonly port: number;
  /** Base URL for people: `http://host:port`. */
  readonly url: string;
  /** Stops listening, then closes the admin's Redis connection. */
  close(): Promise<void>;
}

export interface AdminOptions {
  readonly logger: Logger;
}

/** Open connections get this long to finish after close() before they are cut. */
const CLOSE_GRACE_MS = 2_000;

/**
 * Starts the admin listener on `config.admin.host:config.admin.port` with its own Redis
 * connection (fail-fast, like the receiver's: a Redis outage makes /readyz and the queue metrics
 * answer quickly instead of hanging).
 */
export async function startAdmin(config: RelayConfig, options: AdminOptions): Promise<AdminHandle> {
  const logger = options.logger.child({ component: 'admin' });
  const connection = createProducerConnection(config.redis.url, 'admin');
  // ioredis reports every failed reconnect as an 'error' event; /readyz and redis_up say it better.
  connection.on('error', (error: Error) => logger.debug({ err: error.message }, 'admin Redis connection error'));
  const queues = openQueues(config, connection);
  const targets = new Map<string, WatchedTarget>(
    config.targets.map((target) => [target.name, { target, queue: queues.get(target.name)!, breaker: new BreakerStore(connection, config.redis.prefix, target.name) }]),
  );
  const collector = new QueueMetricsCollector(queues, [...targets.values()]);

  const app = new Koa();
  app.on('error', (error: Error) => logger.warn({ err: error.message }, 'admin request failed'));
  const router = new Router();

  router.get('/metrics', async (ctx) => {
    await collector.refresh();
    ctx.set('Cache-Control', 'no-store');
    ctx.type = registry.contentType;
    ctx.body = await registry.metrics();
  });
  healthRoutes(router, { config, redis: connection });
  if (config.mode === 'development') router.post(DEMO_SINK_PATH, demoSinkHandler(options.logger.child({ component: 'demo-sink' })));

  if (config.admin.password) {
    const auth = basicAuth({ username: config.admin.username, password: config.admin.password });
    const board = bullBoardMiddleware(queues.values(), { readOnly: config.admin.readOnly, basePath: BULL_BOARD_PATH });
    const api = adminApi({ targets, readOnly: config.admin.readOnly, logger });
    const crossSite = refuseCrossSite();
    app.use(async (ctx, next) => {
      if (isUnder(ctx.path, ADMIN_API_PATH)) return crossSite(ctx, () => auth(ctx, () => api(ctx, next)));
      if (isUnder(ctx.path, BULL_BOARD_PATH)) return auth(ctx, () => board(ctx, next));
      return next();
    });
  }
  app.use(router.routes()).use(router.allowedMethods());

  const server = app.listen(config.admin.port, config.admin.host);
  try {
    await once(server, 'listening');
  } catch (error) {
    await Promise.allSettled([...queues.values()].map((queue) => queue.close()));
    connection.disconnect();
    throw error;
  }
  const port = (server.address() as AddressInfo).port;
  const shownHost = config.admin.host === '0.0.0.0' || config.admin.host === '::' ? '127.0.0.1' : config.admin.host;

  return {
    server,
    port,
    url: `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`,
    close: async () => {
      await closeServer(server, CLOSE_GRACE_MS);
      await Promise.allSettled([...queues.values()].map((queue) => queue.close()));
      await connection.quit().catch(() => connection.disconnect());
    },
  };
}
