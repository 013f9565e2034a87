/**
 * Crash safety with real processes: a worker process (dist/workers/main.js) killed mid-delivery,
 * Redis killed and restarted with AOF, and SIGTERM's bounded wait for deliveries in flight.
 */
import { describe, expect, it } from 'vitest';
import { deliveryFixtures } from '../helpers/delivery.js';
import { startRedisServer, useTestRedis } from '../helpers/redis.js';
import { workerProcesses } from '../helpers/worker-process.js';

const redis = useTestRedis();
const { setup, start: startWorkerProcess } = workerProcesses(redis);

const { target } = deliveryFixtures(redis);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a worker killed with SIGKILL mid-delivery', () => {
  it('has its delivery redelivered by another worker once the lock expires', async () => {
    const server = await target((_request, index) => (index === 0 ? { hold: true } : { status: 200 }));
    const { file, relay } = await setup({
      redisUrl: redis.url,
      targets: [{ name: 'held', url: server.url }],
      delivery: { lockDuration: 1_000, stalledInterval: 500 },
    });
    const first = await startWorkerProcess(file);
    const data = await relay.enqueue('held');
    await server.waitForRequests(1);
    first.child.kill('SIGKILL');
    await first.exited;
    const killedAt = Date.now();

    await startWorkerProcess(file);
    const [held, again] = await server.waitForRequests(2, 15_000);
    await relay.waitForState('held', data.callbackId, 'completed');
    expect(again!.headers['webhook-id']).toBe(held!.headers['webhook-id']);
    expect(again!.body.equals(held!.body)).toBe(true);
    // Not before the dead worker's lock ran out.
    expect(again!.at - killedAt).toBeGreaterThanOrEqual(500);
  }, 40_000);
});

describe('a delivery whose worker keeps dying', () => {
  it('is dead-lettered by BullMQ after 3 stalls, recognised and marked by the worker, and a retry delivers it', async () => {
    const server = await target(() => ({ hold: true }));
    const { file, relay } = await setup({
      redisUrl: redis.url,
      targets: [{ name: 'deadly', url: server.url }],
      delivery: { lockDuration: 1_000, stalledInterval: 500 },
    });
    const data = await relay.enqueue('deadly');
    // Four deaths mid-delivery: BullMQ gives up after more than 3 stalls (MAX_STALLED_COUNT).
    for (let death = 1; death <= 4; death += 1) {
      const worker = await startWorkerProcess(file);
      await server.waitForRequests(death, 15_000);
      worker.child.kill('SIGKILL');
      await worker.exited;
    }
    await startWorkerProcess(file);
    await relay.waitForState('deadly', data.callbackId, 'failed', 15_000);
    const job = await relay.queue('deadly').getJob(data.callbackId);
    expect(job?.failedReason).toMatch(/stalled/);
    // Not one of the worker's own dead letters, yet marked as one, so a retry starts afresh.
    await expect.poll(async () => (await relay.queue('deadly').getJob(data.callbackId))?.data).toMatchObject({ deadLettered: true });

    server.respond = () => ({ status: 200 });
    await job!.retry('failed');
    await relay.waitForState('deadly', data.callbackId, 'completed');
    expect(server.requests.at(-1)?.headers['x-relay-attempt']).toBe('1');
  }, 90_000);
});

describe('Redis killed and restarted (AOF, appendfsync always) mid-run', () => {
  it('loses no job that was added: every one is delivered', async () => {
    const store = await startRedisServer({ appendfsync: 'always' });
    redis.cleanup(() => store.stop());
    const server = await target(() => ({ status: 200, delayMs: 5 }));
    const { relay } = await setup({
      redisUrl: store.url,
      targets: [{ name: 'steady', url: server.url, concurrency: 5, retry: { schedule: [100, 200, 400, 800, 1_000], jitter: 0 } }],
      delivery: { lockDuration: 1_000, stalledInterval: 500 },
    });
    await relay.startWorkers();
    const added = new Set<string>();
    for (let i = 0; i < 150; i += 1) added.add((await relay.enqueue('steady')).callbackId);
    await server.waitForRequests(30);
    await store.kill();
    await sleep(500);
    await store.restart();
    for (let i = 0; i < 50; i += 1) added.add((await relay.enqueue('steady')).callbackId);

    const deadline = Date.now() + 30_000;
    const delivered = () => new Set(server.requests.map((request) => String(request.headers['webhook-id'])));
    while (delivered().size < added.size && Date.now() < deadline) await sleep(100);
    const missing = [...added].filter((id) => !delivered().has(id));
    expect(missing).toEqual([]);
  }, 60_000);
});

describe('SIGTERM', () => {
  it('waits for the delivery in flight, then exits 0 without redelivering it', async () => {
    const server = await target((_request, index) => (index === 0 ? { hold: true } : { status: 200 }));
    const { file, relay } = await setup({ redisUrl: redis.url, targets: [{ name: 'graceful', url: server.url }], delivery: { shutdownTimeout: 5_000 } });
    const worker = await startWorkerProcess(file);
    const data = await relay.enqueue('graceful');
    await server.waitForRequests(1);
    worker.child.kill('SIGTERM');
    // The process took the signal and is closing, and it is still there: it waits for the delivery.
    await worker.printed('zego-relay stopping');
    expect(worker.child.exitCode).toBeNull();
    const releasedAt = Date.now();
    server.release(200);
    expect(await worker.exited).toBe(0);
    expect(worker.exitedAt()).toBeGreaterThanOrEqual(releasedAt);
    await relay.waitForState('graceful', data.callbackId, 'completed');
    expect(server.requests).toHaveLength(1);
  }, 30_000);

  it('is bounded by delivery.shutdownTimeout: a hanging delivery is aborted and put back, attempt not used up', async () => {
    const server = await target((_request, index) => (index === 0 ? { hold: true } : { status: 200 }));
    const { file, relay } = await setup({
      redisUrl: redis.url,
      targets: [{ name: 'stuck', url: server.url, timeout: 60_000 }],
      delivery: { shutdownTimeout: 1_000 },
    });
    const worker = await startWorkerProcess(file);
    const data = await relay.enqueue('stuck');
    await server.waitForRequests(1);
    const signalled = Date.now();
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    const took = Date.now() - signalled;
    expect(took).toBeGreaterThanOrEqual(1_000);
    expect(took).toBeLessThan(4_000);
    expect(['waiting', 'delayed']).toContain(await relay.queue('stuck').getJobState(data.callbackId));

    await startWorkerProcess(file);
    await relay.waitForState('stuck', data.callbackId, 'completed');
    expect(server.requests.map((request) => request.headers['x-relay-attempt'])).toEqual(['1', '1']);
  }, 30_000);
});
