/**
 * The public listener's Koa app: the callback path, /healthz and /readyz, and the 404/405
 * answers for everything else (docs/PROTOCOL.md#the-receiver). Tests drive it through `app.callback()`.
 */
import { performance } from 'node:perf_hooks';
import Router from '@koa/router';
import Koa from 'koa';
import type { RedisConnection } from '../redis/connection.js';
import type { RelayConfig } from '../config/load.js';
import { HttpError } from '../errors.js';
import { healthRoutes } from '../http/health.js';
import type { Logger } from '../lib/logger.js';
import type { SpoolStatus } from '../spool/spool.js';
import { bookOutcome, outcomeOfError } from './book-outcome.js';
import { callbackHandler, type IntakeStore } from './callback-handler.js';
import { closeUnreadBodies } from '../http/close-unread.js';
import { errorMiddleware } from '../http/error-middleware.js';
import { Rejections } from '../rejected/rejections.js';

export interface ReceiverDeps {
  config: RelayConfig;
  store: IntakeStore;
  /** A fail-fast connection for /readyz (the store's own). */
  redis: RedisConnection;
  /** The outage spool's state (undefined without one): /readyz stays ready while it takes callbacks. */
  spool?: () => SpoolStatus | undefined;
  logger: Logger;
  /** What books refused requests; the default counts and summarises them but samples none. */
  rejections?: Rejections;
  /** Milliseconds since the epoch. @defaultValue Date.now */
  now?: () => number;
}

/** Builds the receiver's Koa app (not listening). */
export function createReceiverApp(deps: ReceiverDeps): Koa {
  const { config, logger } = deps;
  const app = new Koa();
  // Every error is answered and logged by errorMiddleware; Koa's default printer would log twice.
  app.silent = true;
  app.use(closeUnreadBodies());
  app.use(errorMiddleware(logger));

  const now = deps.now ?? Date.now;
  const rejections = deps.rejections ?? new Rejections(undefined, logger);
  // Exact paths: "any other path is 404" includes /ZEGO/CALLBACK and a trailing slash.
  const router = new Router({ sensitive: true, strict: true });
  router.post(config.server.callbackPath, callbackHandler({ config, store: deps.store, logger, rejections, now }));
  router.all(config.server.callbackPath, (ctx) => {
    const started = performance.now();
    ctx.set('Allow', 'POST');
    const error = new HttpError(405, 'method_not_allowed', 'only POST is allowed here');
    const outcome = outcomeOfError(error, ({ status, code, message }) => ({ status, code, message, contentType: ctx.get('content-type') || undefined, body: Buffer.alloc(0), at: now() }));
    bookOutcome({ logger, rejections }, outcome, { authenticated: false }, performance.now() - started);
    throw error;
  });
  healthRoutes(router, { config, redis: deps.redis, detailed: false, ...(deps.spool ? { spool: deps.spool } : {}) });
  app.use(router.routes());
  app.use(() => {
    throw new HttpError(404, 'not_found', 'nothing here');
  });
  return app;
}
