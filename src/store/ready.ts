/** Waiting for a fail-fast connection (no offline queue) to be ready, within a deadline. */
import { once } from 'node:events';
import type { Redis } from 'ioredis';

/**
 * Resolves at once when `redis` is ready, else when it becomes ready; rejects after `timeoutMs`.
 * The listener goes with the wait, so a long outage never piles up one listener per caller.
 */
export async function readyWithin(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return;
  await once(redis, 'ready', { signal: AbortSignal.timeout(Math.max(1, timeoutMs)) });
}
