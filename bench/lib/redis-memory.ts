/**
 * What the benchmark reads from the shared redis-server: used_memory, the server's version, and
 * a clean-up of one run's keys (each run has its own prefix), so later sections start from the
 * same Redis.
 */
import type { Redis } from 'ioredis';

/** INFO memory used_memory: what Redis allocated for data, clients and buffers. */
export async function usedMemoryBytes(redis: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? Number.NaN);
}

export async function redisVersion(redis: Redis): Promise<string> {
  return /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
}

/** UNLINKs every key matching `pattern` (SCAN, never KEYS). */
export async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  for await (const keys of redis.scanStream({ match: pattern, count: 1_000 }) as AsyncIterable<string[]>) {
    if (keys.length > 0) await redis.unlink(...keys);
  }
}
