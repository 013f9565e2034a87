/**
 * The admin API under /admin/api on the admin listener: list targets with their state and counts,
 * pause, resume and replay one. JSON in and out; errors use the receiver's error body. admin.ts
 * mounts it behind basic auth (and not at all without admin.password).
 *
 * Pause and resume are BullMQ's global pause of the target's queue, the very switch behind Bull
 * Board's pause button, so the two always agree; it lives in Redis, so it holds across worker
 * restarts, and no probe ever ends it.
 */
import type { IncomingMessage } from 'node:http';
import Router from '@koa/router';
import type { Middleware } from 'koa';
import { z } from 'zod';
import { duration } from '../config/primitives.js';
import { requeueDeadLetters } from '../targets/replay.js';
import { HttpError, UnavailableError } from '../errors.js';
import { BodyTooLargeError, readBody } from '../http/read-body.js';
import type { Logger } from '../lib/logger.js';
import { targetStatus, type WatchedTarget } from './target-status.js';
import { withTimeout } from '../lib/with-timeout.js';

export const ADMIN_API_PATH = '/admin/api';

/** How long an API call waits for Redis before answering 503. */
const REDIS_TIMEOUT_MS = 2_000;
/**
 * A replay re-queues for this long at most, then answers with what it did and `more: true` if dead
 * letters within `since` remain (the same request again goes on). Well under a proxy's timeout.
 */
export const REPLAY_BUDGET_MS = 20_000;

/** Request bodies are a few fields; anything larger is not one. */
const BODY_LIMIT_BYTES = 16 * 1024;

const replayBody = z.strictObject({
  /** Only dead letters that failed within this duration before now (`24h`, or ms). */
  since: duration.optional(),
  /** At most this many, the most recently failed first. */
  limit: z.number().int().min(1).max(1_000_000).optional(),
});

export interface AdminApiOptions {
  /** Every configured target, by name. */
  readonly targets: ReadonlyMap<string, WatchedTarget>;
  /** admin.readOnly: listing only; pause, resume and replay are refused (403 `read_only`). */
  readonly readOnly: boolean;
  readonly logger: Logger;
  /** `GET /admin/api/rejected` (admin-rejected.ts): the latest refused requests. */
  readonly rejected: Middleware;
  /** How long one replay request re-queues before it answers. @defaultValue REPLAY_BUDGET_MS */
  readonly replayBudgetMs?: number;
  /** `GET /admin/api/targets/NAME/deliveries` (admin-deliveries.ts): a target's latest deliveries. */
  readonly deliveries: Middleware;
}

/** The API's routes (mounted at /admin/api); the admin app's error middleware answers their errors. */
export function adminApi(options: AdminApiOptions): Middleware {
  const { targets, logger } = options;
  const router = new Router({ prefix: ADMIN_API_PATH });
  /** The target a state-changing request names. */
  const find = (name: string): WatchedTarget => {
    const found = targets.get(name);
    if (!found) throw new HttpError(404, 'not_found', `no target named "${name}"`);
    if (options.readOnly) throw new HttpError(403, 'read_only', 'the admin listener is read-only (admin.readOnly)');
    return found;
  };

  router.get('/rejected', options.rejected);
  router.get('/targets/:name/deliveries', options.deliveries);

  router.get('/targets', async (ctx) => {
    ctx.body = await redisWork(Promise.all([...targets.values()].map(targetStatus)));
  });

  router.post('/targets/:name/pause', async (ctx) => {
    const watched = find(ctx.params.name!);
    await readJson(ctx.req, ctx.get('content-type'));
    await redisWork(watched.queue.pause());
    logger.warn({ target: watched.target.name }, 'target paused by an operator (admin API)');
    ctx.body = { ok: true };
  });

  router.post('/targets/:name/resume', async (ctx) => {
    const watched = find(ctx.params.name!);
    await readJson(ctx.req, ctx.get('content-type'));
    // "Deliver again" also ends an open breaker's hold: the operator says the target is back.
    await redisWork(Promise.all([watched.queue.resume(), watched.breaker.recordSuccess(), watched.queue.removeRateLimitKey()]));
    logger.warn({ target: watched.target.name }, 'target resumed by an operator (admin API)');
    ctx.body = { ok: true };
  });

  router.post('/targets/:name/replay', async (ctx) => {
    const watched = find(ctx.params.name!);
    const parsed = replayBody.safeParse(await readJson(ctx.req, ctx.get('content-type')));
    if (!parsed.success) {
      throw new HttpError(400, 'invalid_body', parsed.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; '));
    }
    const { since, limit } = parsed.data;
    const deadline = Date.now() + (options.replayBudgetMs ?? REPLAY_BUDGET_MS);
    // A page at a time (bounded memory) until the deadline; each Redis call is bounded on its own.
    const { requeued, more } = await redisWork(
      requeueDeadLetters(watched.queue, { ...(since === undefined ? {} : { sinceMs: since }), ...(limit === undefined ? {} : { limit }), deadline, keyOrder: watched.target.ordering !== undefined }),
      (options.replayBudgetMs ?? REPLAY_BUDGET_MS) + REDIS_TIMEOUT_MS,
    );
    logger.warn({ target: watched.target.name, requeued, more, since, limit }, 'dead letters re-queued (admin API)');
    ctx.body = { ok: true, requeued, more };
  });

  // Typed for the router's own context; they run on the admin app's plain one.
  const routes = router.routes() as unknown as Middleware;
  const methods = router.allowedMethods({
    throw: true,
    methodNotAllowed: () => new HttpError(405, 'method_not_allowed', 'method not allowed on this path'),
    notImplemented: () => new HttpError(405, 'method_not_allowed', 'method not allowed on this path'),
  }) as unknown as Middleware;
  // The API ends here: a path it does not know is its own 404, not another middleware's.
  return async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    await routes(ctx, () => methods(ctx, async () => {}));
    if (ctx.body === undefined) throw new HttpError(404, 'not_found', `no admin API at ${ctx.path}`);
  };
}

/** Redis work bounded in time; a failure or timeout is 503 `unavailable`, never a hang. */
async function redisWork<T>(work: Promise<T>, timeoutMs = REDIS_TIMEOUT_MS): Promise<T> {
  try {
    return await withTimeout(work, timeoutMs, () => new UnavailableError(`Redis did not answer within ${timeoutMs / 1000} s`));
  } catch (error) {
    if (error instanceof HttpError) throw error;
    throw new UnavailableError('Redis is not available right now; retry later', error);
  }
}

/** The request's JSON object; an empty body is `{}`. 400 `invalid_body` for anything else, a body too large included. */
async function readJson(request: IncomingMessage, contentType: string): Promise<unknown> {
  let bytes: Buffer;
  try {
    bytes = await readBody(request, BODY_LIMIT_BYTES);
  } catch (error) {
    throw error instanceof BodyTooLargeError ? new HttpError(400, 'invalid_body', error.message) : error;
  }
  const text = bytes.toString('utf8').trim();
  if (text === '') return {};
  if (contentType && !/^application\/json\b/i.test(contentType)) throw new HttpError(400, 'invalid_body', 'send JSON (content-type: application/json)');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'invalid_body', 'the body is not JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new HttpError(400, 'invalid_body', 'the body must be a JSON object');
  return value;
}
