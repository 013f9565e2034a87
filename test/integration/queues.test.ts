/**
 * The queues every part opens (openQueues): one per target plus `unrouted`, on one shared
 * connection, quiet during a Redis outage (the connection's owner reports it, once, as JSON).
 */
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openQueues } from '../../src/redis/queues.js';
import { startRedisServer } from '../helpers/redis.js';
import { testConfig } from '../helpers/config.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('openQueues', () => {
  it('opens one queue per target plus unrouted, and prints nothing while Redis is down', async () => {
    const server = await startRedisServer();
    const config = testConfig({ redisUrl: server.url, targets: [{ name: 'billing', events: ['*'] }, { name: 'audit', events: ['mix_*'] }] });
    const connection = new Redis(server.url, { maxRetriesPerRequest: null, retryStrategy: () => 50 });
    let connectionErrors = 0;
    connection.on('error', () => (connectionErrors += 1));
    const queues = openQueues(config, connection);
    cleanups.push(async () => {
      await Promise.allSettled([...queues.values()].map((queue) => queue.close()));
      connection.disconnect();
      await server.stop();
    });
    expect([...queues.keys()]).toEqual(['billing', 'audit', 'unrouted']);
    expect([...queues.values()].map((queue) => queue.name)).toEqual(['deliver-billing', 'deliver-audit', 'unrouted']);
    await Promise.all([...queues.values()].map((queue) => queue.waitUntilReady()));

    const printed = vi.spyOn(console, 'error').mockImplementation(() => {});
    await server.kill();
    // Failed reconnects: every queue has been handed each of these errors (same emit, its listener first).
    const before = connectionErrors;
    await expect.poll(() => connectionErrors - before, { timeout: 5_000 }).toBeGreaterThanOrEqual(3);
    expect(printed).not.toHaveBeenCalled();
  });
});
