/** Waiting for a fail-fast connection (no offline queue) to be ready, or to answer PING, within a deadline. */
import { once } from 'node:events';
import { UnavailableError } from '../errors.js';
import { withTimeout } from '../lib/with-timeout.js';
import { PRODUCER_COMMAND_TIMEOUT_MS, type RedisConnection } from './connection.js';

/** One wait per connection, shared by every caller: a burst during an outage adds no listeners. */
const waits = new WeakMap<RedisConnection, Promise<unknown>>();

/**
 * Resolves at once when `redis` is ready, else when it becomes ready; rejects after `timeoutMs`,
 * or when the connection reports an error first.
 */
export async function readyWithin(redis: RedisConnection, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return;
  let wait = waits.get(redis);
  if (!wait) {
    wait = once(redis, 'ready');
    const settled = () => waits.delete(redis);
    wait.then(settled, settled);
    waits.set(redis, wait);
  }
  await withTimeout(wait, Math.max(1, timeoutMs), () => new Error(`Redis was not ready within ${timeoutMs} ms`));
}

/**
 * True when Redis answers PING within `timeoutMs`; never throws, never waits longer. A connection
 * still (re)connecting is given that time to become ready: right after start-up it is not down.
 */
export async function pingWithin(redis: RedisConnection, timeoutMs: number): Promise<boolean> {
  const ping = async () => {
    await readyWithin(redis, timeoutMs);
    return (await redis.ping()) === 'PONG';
  };
  return withTimeout(ping(), timeoutMs, () => new Error('PING timed out')).catch(() => false);
}

/**
 * One read that answers an HTTP request: waits briefly for a connection still connecting (a
 * listener just started; its connection fails fast), then reads. Any failure is the request's
 * 503 `unavailable`, for the error middleware to answer.
 */
export async function readForRequest<T>(redis: RedisConnection, read: () => Promise<T>): Promise<T> {
  try {
    await readyWithin(redis, PRODUCER_COMMAND_TIMEOUT_MS);
    return await read();
  } catch (error) {
    throw new UnavailableError('Redis did not answer; try again', error);
  }
}
