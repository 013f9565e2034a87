/**
 * The public listener's Koa app: the callback path, /healthz and /readyz, and CONTRACT.md's
 * 404/405 answers for everything else. Tests drive it through `app.callback()`.
 */
import Router from '@koa/router';
import Koa from 'koa';
import type { Redis } from 'ioredis';
import type { RelayConfig } from '../config/load.js';
import { HttpError } from '../errors.js';
import { healthRoutes } from '../ops/health.js';
import type { Logger } from '../ops/logger.js';
import type { CallbackStore } from '../store/callback-store.js';
import { callbackHandler } from './callback-handler.js';
import { closeUnreadBodies } from './close-unread.js';
import { errorMiddleware } from './error-middleware.js';

export interface ReceiverDeps {
  config: RelayConfig;
  store: Pick<CallbackStore, 'store'>;
  /** A fail-fast connection for /readyz (the store's own). */
  redis: Redis;
  logger: Logger;
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

  const router = new Router();
  router.post(config.server.callbackPath, callbackHandler({ config, store: deps.store, logger, now: deps.now ?? Date.now }));
  router.all(config.server.callbackPath, (ctx) => {
    ctx.set('Allow', 'POST');
    throw new HttpError(405, 'method_not_allowed', 'only POST is allowed here');
  });
  healthRoutes(router, { config, redis: deps.redis });
  app.use(router.routes());
  app.use(() => {
    throw new HttpError(404, 'not_found', 'nothing here');
  });
  return app;
}
