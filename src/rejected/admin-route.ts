/**
 * `GET /admin/api/rejected?limit=N` on the admin listener: the latest requests the receiver
 * refused (4xx), newest first, as a JSON array of samples (time, status, code, message, content
 * type, size, the first 2 KB of the body with `signature` masked). It is how an operator finds out
 * what ZEGO really sends when callbacks are refused. The admin API (admin-api.ts) routes it,
 * behind basic auth, and only when the admin listener has credentials.
 */
import type { Middleware } from 'koa';
import type { RedisConnection } from '../redis/connection.js';
import { readForRequest } from '../redis/ready.js';
import { HttpError } from '../errors.js';
import { listRejected, REJECTED_MAX_SAMPLES } from './log.js';

/** Samples listed without `?limit`. */
export const DEFAULT_REJECTED_LIMIT = 100;

/** `limit` as given in a query or on the command line: 1 to REJECTED_MAX_SAMPLES, or undefined when invalid. */
export function parseRejectedLimit(value: string | undefined): number | undefined {
  if (value === undefined) return DEFAULT_REJECTED_LIMIT;
  if (!/^\d{1,7}$/.test(value)) return undefined;
  const limit = Number(value);
  return limit >= 1 && limit <= REJECTED_MAX_SAMPLES ? limit : undefined;
}

/** The handler; errors are thrown for the error middleware (src/http/error-middleware.ts) to answer. */
export function rejectedListHandler(redis: RedisConnection, prefix: string): Middleware {
  return async (ctx) => {
    const raw = ctx.query.limit;
    const limit = Array.isArray(raw) ? undefined : parseRejectedLimit(raw);
    if (limit === undefined) {
      throw new HttpError(400, 'invalid_body', `limit must be a whole number from 1 to ${REJECTED_MAX_SAMPLES}`);
    }
    const samples = await readForRequest(redis, () => listRejected(redis, prefix, limit));
    ctx.set('Cache-Control', 'no-store');
    ctx.body = samples;
  };
}
