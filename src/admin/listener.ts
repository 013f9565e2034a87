/**
 * The admin listener (`admin.host:admin.port`, private by default): Prometheus `/metrics`, Bull
 * Board under `/admin/queues` and the admin API under `/admin/api` behind basic auth (404 without
 * credentials: see admin-credentials.ts), `/healthz` and `/readyz`, and in development mode the
 * demo sink. None of this is on the public listener. In front of every route: an unread body is
 * not read on after the answer (close-unread.ts), no answer may be framed (framing.ts), one
 * middleware writes every error body (src/http/error-middleware.ts), every state-changing request
 * is audited (audit.ts), a loopback listener answers only loopback Host
 * names (host-check.ts, DNS rebinding), and cross-site requests that could change something are
 * refused (cross-site.ts).
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa from 'koa';
import type { RelayConfig } from '../config/load.js';
import { intakePendingCount } from '../intake/stats.js';
import { BreakerStore } from '../targets/breaker-store.js';
import { KeyGate, gateSettings } from '../targets/key-gate.js';
import { closeQueues, openQueues } from '../redis/queues.js';
import { ADMIN_API_PATH, adminApi } from './api.js';
import { closeServer } from '../http/close-server.js';
import { createProducerConnection } from '../redis/connection.js';
import { deliveriesListHandler } from './deliveries.js';
import { rejectedListHandler } from '../rejected/admin-route.js';
import { configuredAdminCredentials, isLoopback, type AdminCredentials } from './credentials.js';
import { auditAdminWrites } from './audit.js';
import { forbidFraming } from '../http/framing.js';
import { refuseForeignHost } from './host-check.js';
import { closeUnreadBodies } from '../http/close-unread.js';
import { errorMiddleware } from '../http/error-middleware.js';
import { basicAuth } from './basic-auth.js';
import { BULL_BOARD_PATH, bullBoardMiddleware } from './bull-board.js';
import { refuseCrossSite } from './cross-site.js';
import { DEMO_SINK_PATH, demoSinkHandler } from '../dev/demo-sink.js';
import { healthRoutes } from '../http/health.js';
import type { Logger } from '../lib/logger.js';
import type { SpoolStatus } from '../spool/spool.js';
import { registry } from '../shared/metrics.js';
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
  /**
   * Who may open Bull Board; given as undefined, Bull Board is off (404). `start` passes the run's
   * credentials (runAdminCredentials). @defaultValue admin.username / admin.password
   */
  readonly credentials?: AdminCredentials | undefined;
  /** How long one admin API replay re-queues before answering (tests). @defaultValue REPLAY_BUDGET_MS */
  readonly replayBudgetMs?: number;
  /** The receiver's outage spool in this process, if any: /readyz shows `spooled` (src/http/health.ts). */
  readonly spool?: () => SpoolStatus | undefined;
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
  const connection = createProducerConnection(config.redis, 'admin');
  // ioredis reports every failed reconnect as an 'error' event; /readyz and redis_up say it better.
  connection.on('error', (error: Error) => logger.debug({ err: error.message }, 'admin Redis connection error'));
  const queues = openQueues(config, connection);
  const targets = new Map<string, WatchedTarget>(
    config.targets.map((target) => [target.name, {
      target,
      queue: queues.get(target.name)!,
      breaker: new BreakerStore(connection, config.redis.prefix, target.name),
      ...(target.ordering ? { gate: new KeyGate(connection, config.redis.prefix, target.name, gateSettings(config)) } : {}),
    }]),
  );
  const collector = new QueueMetricsCollector(queues, () => intakePendingCount(connection, config), [...targets.values()]);

  const app = new Koa();
  app.on('error', (error: Error) => logger.warn({ err: error.message }, 'admin request failed'));
  // A request answered before its body ended must not keep the listener reading it.
  app.use(closeUnreadBodies());
  app.use(forbidFraming());
  // Every guard, route and the admin API throw their errors (errors.ts) for this one to answer.
  app.use(errorMiddleware(logger, { leaveKoaClientErrors: true }));
  app.use(auditAdminWrites(logger, { exceptPath: config.mode === 'development' ? DEMO_SINK_PATH : undefined }));
  if (isLoopback(config.admin.host)) app.use(refuseForeignHost(config.admin.allowedHosts));
  // A page on another site must not use the operator's cached login (CSRF), whatever follows.
  app.use(refuseCrossSite());
  const router = new Router();

  router.get('/metrics', async (ctx) => {
    await collector.refresh();
    ctx.set('Cache-Control', 'no-store');
    ctx.type = registry.contentType;
    ctx.body = await registry.metrics();
  });
  healthRoutes(router, { config, redis: connection, detailed: true, ...(options.spool ? { spool: options.spool } : {}) });
  if (config.mode === 'development') router.post(DEMO_SINK_PATH, demoSinkHandler(options.logger.child({ component: 'demo-sink' })));

  const credentials = 'credentials' in options ? options.credentials : configuredAdminCredentials(config);
  if (credentials) {
    const auth = basicAuth({ username: credentials.username, password: credentials.password });
    const board = bullBoardMiddleware(queues, {
      readOnly: config.admin.readOnly,
      basePath: BULL_BOARD_PATH,
      attemptsByTarget: new Map(config.targets.map((target) => [target.name, 1 + target.retry.schedule.length])),
    });
    const api = adminApi({
      targets,
      readOnly: config.admin.readOnly,
      logger,
      rejected: rejectedListHandler(connection, config.redis.prefix),
      deliveries: deliveriesListHandler(connection, config.redis.prefix, new Set(targets.keys())),
      ...(options.replayBudgetMs === undefined ? {} : { replayBudgetMs: options.replayBudgetMs }),
    });
    app.use(async (ctx, next) => {
      // The cross-site guard (first middleware of the app) has already refused other sites.
      if (isUnder(ctx.path, ADMIN_API_PATH)) return auth(ctx, () => api(ctx, next));
      if (isUnder(ctx.path, BULL_BOARD_PATH)) return auth(ctx, () => board(ctx, next));
      return next();
    });
  }
  app.use(router.routes()).use(router.allowedMethods());

  const server = app.listen(config.admin.port, config.admin.host);
  try {
    await once(server, 'listening');
  } catch (error) {
    await closeQueues(queues, connection, 'disconnect');
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
      await closeQueues(queues, connection, 'quit');
    },
  };
}
