import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { startRedisServer } from '../../src/dev/redis-process.js';

export { freePort, startRedisServer, type RedisServer } from '../../src/dev/redis-process.js';

/** Stops a Redis a test did not start itself (a relay's private one left behind by a failure). */
export async function shutdownRedis(url: string): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  await client.shutdown('NOSAVE').catch(() => {});
  client.disconnect();
}

/**
 * The Redis a test file should use: REDIS_URL when set (never killed), else a private server.
 * Tests that kill or pause Redis must call startRedisServer themselves.
 */
async function fileRedis(own: boolean): Promise<{ url: string; stop: () => Promise<void> }> {
  if (process.env.REDIS_URL && !own) return { url: process.env.REDIS_URL, stop: async () => {} };
  const server = await startRedisServer();
  return { url: server.url, stop: server.stop };
}

export interface TestRedis {
  /** The URL of the file's Redis (REDIS_URL or a private server). */
  readonly url: string;
  /** A plain client for looking at what the relay wrote. */
  readonly inspector: Redis;
  /** Registers a cleanup run after the current test, last registered first. */
  cleanup(step: () => Promise<unknown>): void;
}

/**
 * The one Redis fixture: starts the file's Redis before its tests (or before the tests of the
 * describe block it is called in), runs each test's cleanups after it, stops it after them.
 * `own`: a private server even when REDIS_URL is set, for tests that read what the whole server
 * sees (CLIENT LIST, INFO commandstats), which other test files on a shared Redis would blur.
 */
export function useTestRedis(options: { own?: boolean } = {}): TestRedis {
  let url = '';
  let stop: () => Promise<void> = async () => {};
  let inspector: Redis | undefined;
  const cleanups: (() => Promise<unknown>)[] = [];
  beforeAll(async () => {
    ({ url, stop } = await fileRedis(options.own ?? false));
    inspector = new Redis(url);
  });
  afterEach(async () => {
    for (const step of cleanups.splice(0).reverse()) await step();
  });
  afterAll(async () => {
    inspector?.disconnect();
    await stop();
  });
  return {
    get url() {
      return url;
    },
    get inspector() {
      if (!inspector) throw new Error('useTestRedis: Redis is not started yet (use it inside a test)');
      return inspector;
    },
    cleanup: (step) => cleanups.push(step),
  };
}
