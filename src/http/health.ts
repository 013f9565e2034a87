/**
 * `GET /healthz` (the process is up) and `GET /readyz` (Redis answers a PING within a second and
 * the configuration is loaded; else 503), mounted on both the public and the admin listener. The
 * public listener's /readyz says ready or not and nothing else: anyone on the internet can ask.
 * The admin listener's also names the config file and counts the intake log's pending callbacks.
 *
 * A receiver with an outage spool is ready while Redis answers or the spool takes callbacks: it
 * still acknowledges callbacks (durably, on disk), so a load balancer must keep sending them. The
 * admin listener's answer then says `redis: "down"` and how many callbacks are spooled.
 */
import type Router from '@koa/router';
import type { RedisConnection } from '../redis/connection.js';
import type { RelayConfig } from '../config/load.js';
import type { SpoolStatus } from '../spool/spool.js';
import { intakePendingCount } from '../intake/stats.js';
import { pingWithin } from '../redis/ready.js';
import { redisUp } from '../shared/metrics.js';
import { withTimeout } from '../lib/with-timeout.js';
import { errorBody } from './error-middleware.js';

export interface HealthOptions {
  /** The loaded configuration: holding one means it validated. */
  readonly config: RelayConfig;
  /** A fail-fast connection (createProducerConnection), so /readyz never hangs. */
  readonly redis: RedisConnection;
  /** How long /readyz waits for PONG. @defaultValue 1000 */
  readonly timeoutMs?: number;
  /** Say which config is loaded and why it is not ready (admin listener); false: ready or not only. */
  readonly detailed: boolean;
  /** The receiver's outage spool, in a process that has one (it may start after the listener). */
  readonly spool?: () => SpoolStatus | undefined;
}

/** Adds /healthz and /readyz to `router` and returns it. */
export function healthRoutes(router: Router, options: HealthOptions): Router {
  router.get('/healthz', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { ok: true };
  });
  router.get('/readyz', async (ctx) => {
    const redisAnswers = await pingWithin(options.redis, options.timeoutMs ?? 1_000);
    redisUp.set(redisAnswers ? 1 : 0);
    const spool = options.spool?.();
    const ready = redisAnswers || spool?.accepting === true;
    ctx.set('Cache-Control', 'no-store');
    ctx.status = ready ? 200 : 503;
    if (!options.detailed) {
      ctx.body = ready ? { ok: true } : errorBody('unavailable', 'not ready');
      return;
    }
    const spooled = spool ? { spooled: spool.callbacks } : {};
    if (!redisAnswers) {
      ctx.body = ready
        ? { ok: true, redis: 'down', config: options.config.source, ...spooled }
        : { ...errorBody('unavailable', spool ? 'Redis does not answer and the spool takes no more callbacks' : 'Redis does not answer'), ...spooled };
      return;
    }
    // The callbacks acknowledged to ZEGO and not yet routed: a number that keeps growing means no
    // router runs (no worker role), which readiness alone would not show.
    const intakePending = await withTimeout(intakePendingCount(options.redis, options.config), options.timeoutMs ?? 1_000, () => new Error('timeout')).catch(() => null);
    ctx.body = { ok: true, redis: 'up', config: options.config.source, intakePending, ...spooled };
  });
  return router;
}
