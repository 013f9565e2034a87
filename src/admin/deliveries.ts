/**
 * `GET /admin/api/targets/NAME/deliveries?limit=N` on the admin listener: the latest deliveries to a
 * target, newest first (time, callback id, event, the attempt that delivered it, status, duration,
 * and whether the router's first attempt or a worker's job made it), read from the target's record
 * (src/targets/delivery-record.ts). A delivery the router made on its first attempt leaves no job in
 * Bull Board: this answers "was it delivered?". The admin API (admin-api.ts) routes it, behind
 * basic auth; read-only listeners serve it too.
 */
import type { Middleware } from 'koa';
import { recentDeliveries } from '../targets/delivery-record.js';
import { HttpError } from '../errors.js';
import type { RedisConnection } from '../redis/connection.js';
import { readForRequest } from '../redis/ready.js';

/** Deliveries listed without `?limit`. */
export const DEFAULT_DELIVERIES_LIMIT = 100;
/** The most one request lists (the record keeps about `retention.completedCount` per target). */
export const MAX_DELIVERIES_LIMIT = 10_000;

/** `limit` as given in a query or on the command line, or undefined when invalid. */
export function parseDeliveriesLimit(value: string | undefined): number | undefined {
  if (value === undefined) return DEFAULT_DELIVERIES_LIMIT;
  if (!/^\d{1,7}$/.test(value)) return undefined;
  const limit = Number(value);
  return limit >= 1 && limit <= MAX_DELIVERIES_LIMIT ? limit : undefined;
}

/** The handler; errors are thrown for the API's error middleware to answer. */
export function deliveriesListHandler(redis: RedisConnection, prefix: string, targets: ReadonlySet<string>): Middleware {
  return async (ctx) => {
    const name = (ctx.params as { name?: string } | undefined)?.name ?? '';
    if (!targets.has(name)) throw new HttpError(404, 'not_found', `no target named "${name}"`);
    const raw = ctx.query.limit;
    const limit = Array.isArray(raw) ? undefined : parseDeliveriesLimit(raw);
    if (limit === undefined) throw new HttpError(400, 'invalid_body', `limit must be a whole number from 1 to ${MAX_DELIVERIES_LIMIT}`);
    const deliveries = await readForRequest(redis, () => recentDeliveries(redis, prefix, name, limit));
    ctx.body = deliveries;
  };
}
