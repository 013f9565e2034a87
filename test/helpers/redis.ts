import { startRedisServer } from '../../src/ops/redis-process.js';

export { freePort, startRedisServer, type RedisServer } from '../../src/ops/redis-process.js';

/**
 * The Redis a test file should use: REDIS_URL when set (never killed), else a private server.
 * Tests that kill or pause Redis must call startRedisServer themselves.
 */
export async function sharedRedis(): Promise<{ url: string; stop: () => Promise<void> }> {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, stop: async () => {} };
  const server = await startRedisServer();
  return { url: server.url, stop: server.stop };
}
