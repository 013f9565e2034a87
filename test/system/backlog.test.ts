/**
 * The backlog scenario of bench/backlog.ts, scaled down to 5,000 deliveries: one target down while
 * they pile up, then back. Everything drains, the healthy target keeps getting its callbacks,
 * and the relay's memory does not grow with the backlog (it lives in Redis). Runs the compiled
 * CLI, built by test/global-setup.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBacklog, maxOf, probeTrickle, runBacklog } from '../../bench/backlog.js';
import { startRedisServer, type RedisServer } from '../../src/dev/redis-process.js';
import { silentLogger } from '../../src/lib/logger.js';
import { CallbackStore } from '../../src/intake/callback-store.js';
import { testConfig } from '../helpers/config.js';

let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedisServer({ appendfsync: 'always' });
});
afterAll(async () => {
  await redis?.stop();
});

describe('a backlog for a target that was down', () => {
  it('drains completely when the target returns, while the healthy target stays fast and the relay stays small', async () => {
    const result = await runBacklog({
      redisUrl: redis.url,
      jobs: 5_000,
      baselineSeconds: 3,
      extraDownSeconds: 2,
      retrySchedule: ['500ms', '1s', '2s', ...Array<string>(20).fill('2s')],
      drainTimeoutSeconds: 40,
    });
    console.log(formatBacklog(result).join('\n'));

    expect(result.drained).toBe(true);
    expect(result.probesMissing).toBe(0);
    // The healthy target kept getting its callbacks in every phase. How fast is a matter of the
    // machine's load: its latency is measured and printed by `npm run bench` (section backlog), and
    // test/integration/deliver-isolation.test.ts proves a down target does not delay a healthy one.
    expect(result.healthyLatency.baseline.count).toBeGreaterThan(20);
    expect(result.healthyLatency.pileUp.count).toBeGreaterThan(0);
    expect(result.healthyLatency.drain.count).toBeGreaterThan(0);
    // The backlog is in Redis, not in the relay: RSS is a matter of load (the 100,000 run of
    // `npm run bench` plateaus in the same range and reports the RSS of each phase).
    expect(result.rssMb.peak).toBeLessThan(350);
  }, 90_000);
});

describe('a long backlog run keeps its report', () => {
  it('returns its figures when the drain reaches its time limit (drained: false)', async () => {
    const result = await runBacklog({
      redisUrl: redis.url,
      jobs: 500,
      baselineSeconds: 1,
      extraDownSeconds: 0,
      // The first retry comes long after the drain's limit: nothing can drain in time.
      retrySchedule: ['60s'],
      drainTimeoutSeconds: 1,
    });
    expect(result.drained).toBe(false);
    expect(result.jobs).toBe(500);
    expect(formatBacklog(result).join('\n')).toContain('drain:   NOT ALL delivered');
  }, 60_000);

  it("finds the latest of a million arrival times (spread into Math.max, they overflow the stack)", () => {
    const arrivals = new Map<string, number>();
    for (let index = 0; index < 1_000_000; index += 1) arrivals.set(`cb_${index}`, 1_000 + ((index * 7919) % 1_000_000));
    expect(maxOf(arrivals.values())).toBe(1_000 + 999_999);
  });

  it("the healthy target's trickle counts what the store refuses while Redis is gone, never throws, and stops before the store closes", async () => {
    const own = await startRedisServer({ appendfsync: 'everysec' });
    const store = CallbackStore.open(testConfig({ redisUrl: own.url }), silentLogger);
    try {
      const trickle = probeTrickle({ store, intervalMs: 20, runId: 'trickle', phase: () => 'drain' });
      await expect.poll(() => trickle.sent.size, { timeout: 10_000 }).toBeGreaterThan(3);
      await own.kill();
      await expect.poll(() => trickle.refused(), { timeout: 15_000 }).toBeGreaterThan(1);
      // stop() resolves when the loop has ended (a rejected write would have failed this test as
      // an unhandled rejection), so the store can close under it.
      await trickle.stop();
    } finally {
      await store.close();
      await own.stop();
    }
  }, 60_000);
});
