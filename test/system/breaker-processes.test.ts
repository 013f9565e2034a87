/**
 * The breaker's state is shared by worker processes through Redis: two processes see one open
 * breaker and probe the target once per probeInterval between them; one of them SIGKILLed and a
 * fresh one started while it is open, the state holds (no flood of attempts, no attempt spent),
 * and when the target returns every delivery arrives and none is dead-lettered.
 */
import type { Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { BreakerStore } from '../../src/targets/breaker-store.js';
import type { TrackedDeliveryData } from '../../workers/deliver/progress.js';
import { useTestRedis } from '../helpers/redis.js';
import { startTargetServer } from '../helpers/targets.js';
import { workerProcesses } from '../helpers/worker-process.js';

const redis = useTestRedis();
const workers = workerProcesses(redis);

describe('two worker processes and one open breaker', () => {
  it('share it; a SIGKILL of one and a fresh start do not end the hold; all is delivered on return', async () => {
    const down = { value: true };
    const server = await startTargetServer(() => ({ status: down.value ? 503 : 200 }));
    redis.cleanup(() => server.close());
    const { file, relay } = await workers.setup({
      redisUrl: redis.url,
      targets: [{
        name: 'billing', url: server.url, concurrency: 4,
        retry: { schedule: [200, 400, 800, 1_600, 3_200], jitter: 0 },
        breaker: { openAfter: '1s', minFailures: 3, probeInterval: '500ms' },
      }],
      delivery: { lockDuration: 1_000, stalledInterval: 500 },
    });
    const breaker = new BreakerStore(relay.connection, relay.config.redis.prefix, 'billing');
    const first = await workers.start(file);
    await workers.start(file);
    const ids: string[] = [];
    for (let i = 0; i < 12; i += 1) ids.push((await relay.enqueue('billing')).callbackId);
    await expect.poll(async () => (await breaker.snapshot()).open, { timeout: 8_000, interval: 50 }).toBe(true);

    first.child.kill('SIGKILL');
    await first.exited;
    await workers.start(file);
    expect((await breaker.snapshot()).open).toBe(true);

    const attempts = async () => {
      const jobs = (await Promise.all(ids.map((id) => relay.queue('billing').getJob(id)))) as (Job<TrackedDeliveryData> | undefined)[];
      return jobs.map((job) => job?.data.attempts ?? 0);
    };
    const from = server.requests.length;
    await server.waitForRequests(from + 1, 5_000);
    const before = await attempts();
    await server.waitForRequests(from + 5, 8_000);
    // Still one probe per probeInterval between both live processes, and no attempt spent.
    const probes = server.requests.slice(from + 1, from + 5).map((request) => request.at);
    for (let i = 1; i < probes.length; i += 1) expect(probes[i]! - probes[i - 1]!).toBeGreaterThanOrEqual(400);
    expect(await attempts()).toEqual(before);
    expect((await breaker.snapshot()).open).toBe(true);

    down.value = false;
    await expect.poll(() => relay.queue('billing').getJobCounts('completed').then((counts) => counts.completed), { timeout: 15_000 }).toBe(ids.length);
    expect((await relay.queue('billing').getJobCounts('failed')).failed).toBe(0);
    expect((await breaker.snapshot()).open).toBe(false);
  }, 60_000);
});
