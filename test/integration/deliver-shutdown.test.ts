/**
 * A forced shutdown spends no attempt, in-process (test/system/crash.test.ts proves it on a worker
 * process taking SIGTERM): the delivery in flight at the shutdown deadline is cut and put back
 * with the data it had (no attempt counted, no dead-letter mark), the breaker does not count it as
 * the target's failure, and the next worker's try is attempt 1.
 */
import type { Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { BreakerStore } from '../../src/targets/breaker-store.js';
import type { TrackedDeliveryData } from '../../workers/deliver/progress.js';
import { deliveryFixtures } from '../helpers/delivery.js';
import { useTestRedis } from '../helpers/redis.js';

const redis = useTestRedis();
const { target, harness } = deliveryFixtures(redis);

describe('a delivery in flight at the shutdown deadline', () => {
  it('is cut and put back without spending an attempt or counting as a breaker failure, and is attempt 1 again', async () => {
    const server = await target((_request, index) => (index === 0 ? { hold: true } : { status: 200 }));
    const relay = await harness({
      targets: [{ name: 'slow', url: server.url, timeout: 60_000, retry: { schedule: [60_000], jitter: 0 }, breaker: { openAfter: '1m', minFailures: 1, probeInterval: '1s' } }],
      delivery: { shutdownTimeout: 300 },
    });
    const workers = await relay.startWorkers();
    const data = await relay.enqueue('slow');
    await server.waitForRequests(1);

    await workers.close();
    expect(['waiting', 'delayed']).toContain(await relay.queue('slow').getJobState(data.callbackId));
    const job = (await relay.queue('slow').getJob(data.callbackId)) as Job<TrackedDeliveryData>;
    expect({ attempts: job.data.attempts, deadLettered: job.data.deadLettered }).toEqual({ attempts: undefined, deadLettered: undefined });
    // minFailures 1: one counted failure would have started a streak.
    expect(await new BreakerStore(relay.connection, relay.config.redis.prefix, 'slow').snapshot()).toEqual({ open: false, failures: 0 });

    await relay.startWorkers();
    await relay.waitForState('slow', data.callbackId, 'completed');
    expect(server.requests.map((request) => request.headers['x-relay-attempt'])).toEqual(['1', '1']);
  }, 30_000);
});
