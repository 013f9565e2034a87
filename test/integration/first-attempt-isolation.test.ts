/**
 * Isolation with first attempts by the router: a target that answers every request after 5 s,
 * beside a healthy one, must not slow the healthy one down. The router moves the same intake log
 * with the healthy target alone and with the slow one beside it; the healthy target's deliveries
 * per second are compared. The bench measures the same ratio (`npm run bench`, section e2e); the
 * bound here is generous because the test machine is shared.
 */
import { describe, expect, it } from 'vitest';
import { startWorkers } from '../../workers/role.js';
import { silentLogger } from '../../src/lib/logger.js';
import type { TargetInput } from '../helpers/config.js';
import { deliveryFixtures } from '../helpers/delivery.js';
import { useTestRedis } from '../helpers/redis.js';
import { routerHarness } from '../helpers/router.js';
import { ok } from '../helpers/targets.js';

const redis = useTestRedis();
const { configFor, storeCallbacks } = routerHarness(redis);
const { target } = deliveryFixtures(redis);

const CALLBACKS = 1_500;

/** Stores the callbacks, then starts the worker role and times the healthy target's deliveries. */
async function healthyPerSecond(targets: (healthyUrl: string) => TargetInput[]): Promise<number> {
  const healthy = await target(ok);
  const { config } = configFor({ intake: { batchSize: 200 }, targets: targets(healthy.url) });
  await storeCallbacks(config, CALLBACKS);
  const started = performance.now();
  const workers = await startWorkers(config, { logger: silentLogger });
  redis.cleanup(() => workers.close());
  await healthy.waitForRequests(CALLBACKS, 60_000);
  return CALLBACKS / ((performance.now() - started) / 1000);
}

describe('a target answering every request after 5 s', () => {
  it('beside a healthy target leaves it at least half its throughput alone (the bench asks 0.8)', async () => {
    const slow = await target(() => ({ status: 200, delayMs: 5_000 }));
    const alone = await healthyPerSecond((url) => [{ name: 'healthy', url, events: ['*'] }]);
    const beside = await healthyPerSecond((url) => [
      { name: 'healthy', url, events: ['*'] },
      { name: 'slow', url: slow.url, events: ['*'], timeout: '10s', retry: { schedule: ['1h'] } },
    ]);
    // The slow target did get first attempts (and they were handed to jobs), not just jobs.
    expect(slow.requests.length).toBeGreaterThan(0);
    expect(beside / alone, `healthy alone ${alone.toFixed(0)}/s, beside the slow one ${beside.toFixed(0)}/s`).toBeGreaterThanOrEqual(0.5);
  }, 120_000);
});
