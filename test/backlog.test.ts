/**
 * The backlog scenario of bench/backlog.ts, scaled down to 5,000 deliveries: one target down while
 * they pile up, then back. Everything drains, the healthy target keeps getting its callbacks,
 * and the relay's memory does not grow with the backlog (it lives in Redis). Runs the compiled
 * CLI, built by test/global-setup.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBacklog, runBacklog } from '../bench/backlog.js';
import { startRedisServer, type RedisServer } from '../src/dev/redis-process.js';

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
    // test/deliver-isolation.test.ts proves a down target does not delay a healthy one.
    expect(result.healthyLatency.baseline.count).toBeGreaterThan(20);
    expect(result.healthyLatency.pileUp.count).toBeGreaterThan(0);
    expect(result.healthyLatency.drain.count).toBeGreaterThan(0);
    // The backlog is in Redis, not in the relay: RSS is a matter of load (the 100,000 run of
    // `npm run bench` plateaus in the same range and reports the RSS of each phase).
    expect(result.rssMb.peak).toBeLessThan(350);
  }, 90_000);
});
