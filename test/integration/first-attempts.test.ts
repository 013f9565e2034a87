/**
 * The router's first attempts against a real Redis and real HTTP targets (docs/RELIABILITY.md,
 * "First attempts by the router"): a delivered first attempt costs no job; anything else becomes a
 * job that goes on exactly where a worker's first attempt would have left it (schedule from retry 1,
 * x-relay-attempt 2 next, dead letters, breaker accounting); breaker open and pause mean no first
 * attempts; an answer after the deadline moves its job; switched off, every delivery is a job.
 */
import type { Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { BreakerStore } from '../../src/targets/breaker-store.js';
import { recentDeliveries } from '../../src/targets/delivery-record.js';
import type { TrackedDeliveryData } from '../../workers/deliver/progress.js';
import { requeueDeadLetters } from '../../src/targets/replay.js';
import { startWorkers } from '../../workers/role.js';
import type { RelayConfig } from '../../src/config/load.js';
import { startReceiver } from '../../src/receive/server.js';
import { SWITCH_SEEN_WITHIN_MS } from '../../workers/route/target-lanes.js';
import { deliveries } from '../../src/shared/metrics.js';
import { intakePendingCount } from '../../src/intake/stats.js';
import { deliveryQueueName } from '../../src/shared/names.js';
import type { TargetInput } from '../helpers/config.js';
import { deliveryFixtures, recordingLogger } from '../helpers/delivery.js';
import { orderViolations, recordingTarget, sendKeyed } from '../helpers/ordering.js';
import { useTestRedis } from '../helpers/redis.js';
import { routerHarness } from '../helpers/router.js';
import { ok, type ReceivedRequest } from '../helpers/targets.js';

const redis = useTestRedis();
const { configFor, storeCallbacks, openQueue, jobIds } = routerHarness(redis);
const { target } = deliveryFixtures(redis);

/** The router and the workers (the worker role) in this process, logging to `logger`. */
async function workerRole(config: RelayConfig, logger = recordingLogger().logger) {
  const workers = await startWorkers(config, { logger });
  redis.cleanup(() => workers.close());
  return workers;
}

/** `zego_relay_deliveries_total{target, outcome}` now (the registry is the process's). */
async function counted(targetName: string, outcome: string): Promise<number> {
  const { values } = await deliveries.get();
  return values.find((value) => value.labels.target === targetName && value.labels.outcome === outcome)?.value ?? 0;
}

const attemptHeader = (request: ReceivedRequest) => request.headers['x-relay-attempt'];
const idOf = (request: ReceivedRequest) => String(request.headers['webhook-id']);

/** One target named `name` at `url` with `extra`, and the test's usual short intake timings. */
function oneTarget(name: string, url: string, extra: Partial<TargetInput> = {}, intake: Record<string, unknown> = {}) {
  return configFor({ intake, targets: [{ name, url, events: ['*'], ...extra }] }).config;
}

describe('a target that answers 2xx', () => {
  it('is delivered on the first attempt without a job: x-relay-attempt 1, recorded, logged and counted once per attempt', async () => {
    const server = await target(ok);
    const config = oneTarget('fast', server.url);
    const { logger, lines } = recordingLogger();
    const before = await counted('fast', 'delivered');
    await workerRole(config, logger);
    const ids = await storeCallbacks(config, 5);

    const requests = await server.waitForRequests(5);
    expect(requests.map(attemptHeader)).toEqual(['1', '1', '1', '1', '1']);
    expect(new Set(requests.map(idOf))).toEqual(new Set(ids));
    await expect.poll(async () => (await recentDeliveries(redis.inspector, config.redis.prefix, 'fast', 10)).length).toBe(5);
    const record = await recentDeliveries(redis.inspector, config.redis.prefix, 'fast', 10);
    expect(new Set(record.map((entry) => entry.callbackId))).toEqual(new Set(ids));
    expect(record.every((entry) => entry.by === 'router' && entry.attempt === 1 && entry.status === 204 && entry.event === 'mix_stop')).toBe(true);
    // No job at all: nothing was queued for a delivery its first attempt made.
    expect(await jobIds(openQueue(config, deliveryQueueName('fast')))).toEqual([]);
    const attemptLines = lines.filter((line) => line.msg === 'delivered');
    expect(attemptLines).toHaveLength(5);
    expect(attemptLines[0]).toMatchObject({ target: 'fast', attempt: 1, status: 204, outcome: 'delivered', event: 'mix_stop' });
    expect(await counted('fast', 'delivered')).toBe(before + 5);
  });
});

describe('a failed first attempt', () => {
  it('becomes a job that goes on from retry 1: x-relay-attempt 2 after the first delay, the attempt in the job\'s data and log', async () => {
    const server = await target((request) => ({ status: attemptHeader(request) === '1' ? 500 : 200 }));
    const config = oneTarget('flaky', server.url, { retry: { schedule: [600, 60_000], jitter: 0 } });
    const { logger, lines } = recordingLogger();
    const retriedBefore = await counted('flaky', 'retry');
    await workerRole(config, logger);
    const [id] = await storeCallbacks(config, 1);

    const [first, second] = await server.waitForRequests(2, 10_000);
    expect([attemptHeader(first!), attemptHeader(second!)]).toEqual(['1', '2']);
    // Retry 1 came after the schedule's first delay (600 ms, no jitter), not at once.
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(550);
    const queue = openQueue(config, deliveryQueueName('flaky'));
    await expect.poll(() => queue.getJobState(id!)).toBe('completed');
    const job = (await queue.getJob(id!)) as Job<TrackedDeliveryData>;
    expect(job.returnvalue).toEqual({ status: 200, attempt: 2 });
    expect((await queue.getJobLogs(id!)).logs).toEqual([expect.stringMatching(/^attempt 1: target answered 500/)]);
    const attempts = lines.filter((line) => line.callbackId === id && typeof line.attempt === 'number');
    expect(attempts.map((line) => [line.attempt, line.outcome, line.status])).toEqual([[1, 'retry', 500], [2, 'delivered', 200]]);
    expect(await counted('flaky', 'retry')).toBe(retriedBefore + 1);
    expect((await recentDeliveries(redis.inspector, config.redis.prefix, 'flaky', 1))[0]).toMatchObject({ callbackId: id, attempt: 2, by: 'worker' });
  });

  it('honours Retry-After on a 429, within the schedule\'s bounds', async () => {
    const server = await target((request) => (attemptHeader(request) === '1' ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }));
    const config = oneTarget('busy', server.url, { retry: { schedule: [100, 5_000], jitter: 0 } });
    await workerRole(config);
    await storeCallbacks(config, 1);
    const [first, second] = await server.waitForRequests(2, 10_000);
    expect(attemptHeader(second!)).toBe('2');
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(950);
  });

  it('answered 410 is a dead letter at once: a failed job in Bull Board, re-queued by replay with the whole schedule', async () => {
    let gone = true;
    const server = await target(() => ({ status: gone ? 410 : 200 }));
    const config = oneTarget('gone', server.url, { retry: { schedule: [100, 100], jitter: 0 } });
    const deadBefore = await counted('gone', 'dead');
    await workerRole(config);
    const [id] = await storeCallbacks(config, 1);
    const queue = openQueue(config, deliveryQueueName('gone'));

    await expect.poll(() => queue.getJobState(id!)).toBe('failed');
    expect(server.requests).toHaveLength(1);
    const job = (await queue.getJob(id!)) as Job<TrackedDeliveryData>;
    expect(job.failedReason).toMatch(/target answered 410/);
    expect(job.data).toMatchObject({ attempts: 1, deadLettered: true });
    expect(job.data.deadLetterNow).toBeUndefined();
    expect((await queue.getJobLogs(id!)).logs).toEqual([expect.stringMatching(/^attempt 1: target answered 410/)]);
    expect(await counted('gone', 'dead')).toBe(deadBefore + 1);

    gone = false;
    expect(await requeueDeadLetters(queue, {})).toEqual({ requeued: 1, more: false });
    const [, replayed] = await server.waitForRequests(2);
    expect(attemptHeader(replayed!)).toBe('1');
    await expect.poll(() => queue.getJobState(id!)).toBe('completed');
  });

  it('with no retry in the schedule is dead-lettered without another attempt', async () => {
    const server = await target(() => ({ status: 500 }));
    const config = oneTarget('once', server.url, { retry: { schedule: [], jitter: 0 } });
    await workerRole(config);
    const [id] = await storeCallbacks(config, 1);
    const queue = openQueue(config, deliveryQueueName('once'));
    await expect.poll(() => queue.getJobState(id!)).toBe('failed');
    expect(server.requests).toHaveLength(1);
  });

  it('counts toward opening the breaker, as a worker\'s attempt does', async () => {
    const server = await target(() => ({ status: 500 }));
    // Retries an hour away: only the router's first attempts can open it.
    const config = oneTarget('failing', server.url, { retry: { schedule: ['1h'], jitter: 0 }, breaker: { openAfter: 1, minFailures: 3, probeInterval: '1h' } });
    await workerRole(config);
    await storeCallbacks(config, 3);
    await server.waitForRequests(3);
    const breaker = new BreakerStore(redis.inspector, config.redis.prefix, 'failing');
    await expect.poll(async () => (await breaker.snapshot()).open).toBe(true);
    expect(server.requests.map(attemptHeader)).toEqual(['1', '1', '1']);
  });
});

describe('no first attempts', () => {
  it('while the breaker is open: the deliveries wait as jobs the breaker holds', async () => {
    const server = await target(ok);
    const config = oneTarget('tripped', server.url, { breaker: { openAfter: 1, minFailures: 1, probeInterval: '1h' } });
    const breaker = new BreakerStore(redis.inspector, config.redis.prefix, 'tripped');
    expect(await breaker.recordFailure({ openAfter: 0, minFailures: 1, probeInterval: 3_600_000 }, 'down')).toMatchObject({ state: 'opened' });
    await workerRole(config);
    const ids = await storeCallbacks(config, 3);
    const queue = openQueue(config, deliveryQueueName('tripped'));
    // Routed: each one is a job, none spent an attempt, and the target saw nothing.
    await expect.poll(async () => (await jobIds(queue)).sort()).toEqual([...ids].sort());
    expect(server.requests).toEqual([]);
    const jobs = (await Promise.all(ids.map((id) => queue.getJob(id)))) as Job<TrackedDeliveryData>[];
    expect(jobs.map((job) => job.data.attempts ?? 0)).toEqual([0, 0, 0]);
  });

  it(`within ${SWITCH_SEEN_WITHIN_MS} ms of an operator's pause; everything is delivered once resumed`, async () => {
    const server = await target(ok);
    const config = oneTarget('held', server.url);
    await workerRole(config);
    const [early] = await storeCallbacks(config, 1);
    await server.waitForRequests(1);
    const queue = openQueue(config, deliveryQueueName('held'));
    await queue.pause();
    const pausedAt = Date.now();
    // Callbacks keep coming; the ones stored after the bound must get no first attempt.
    const late: string[] = [];
    while (Date.now() - pausedAt < 4 * SWITCH_SEEN_WITHIN_MS) {
      const stored = Date.now();
      const [id] = await storeCallbacks(config, 1);
      if (stored - pausedAt > SWITCH_SEEN_WITHIN_MS) late.push(id!);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(late.length).toBeGreaterThan(5);
    await expect.poll(async () => (await queue.getJobCounts('waiting')).waiting).toBeGreaterThanOrEqual(late.length);
    const attempted = new Set(server.requests.map(idOf));
    expect(late.filter((id) => attempted.has(id))).toEqual([]);
    expect(attempted.has(early!)).toBe(true);

    await queue.resume();
    await expect.poll(() => late.every((id) => server.requests.some((request) => idOf(request) === id)), { timeout: 10_000 }).toBe(true);
  });
});

describe('an attempt still running at the deadline', () => {
  it('lets the batch go on; its job waits, and the late 2xx removes the job: one delivery', async () => {
    const server = await target(() => ({ status: 200, delayMs: 800 }));
    const config = oneTarget('late', server.url, { timeout: '5s', retry: { schedule: [100], jitter: 0 } }, { firstAttemptDeadline: 150 });
    await workerRole(config);
    const [id] = await storeCallbacks(config, 1);
    const [request] = await server.waitForRequests(1);
    // Acknowledged while the request is still in flight: the batch waited only for the deadline.
    await expect.poll(() => intakePendingCount(redis.inspector, config), { interval: 10 }).toBe(0);
    expect(Date.now()).toBeLessThan(request!.at + 800);
    const queue = openQueue(config, deliveryQueueName('late'));
    expect(await queue.getJobState(id!)).toBe('delayed');
    expect(((await queue.getJob(id!)) as Job<TrackedDeliveryData>).data.attempts).toBe(1);
    // The answer came: the job is gone (it can never run), the delivery recorded as the router's.
    await expect.poll(() => queue.getJobState(id!), { timeout: 5_000 }).toBe('unknown');
    expect(server.requests).toHaveLength(1);
    expect((await recentDeliveries(redis.inspector, config.redis.prefix, 'late', 1))[0]).toMatchObject({ callbackId: id, attempt: 1, by: 'router' });
  });
});

describe('first attempts switched off (directFirstAttempt: false)', () => {
  it('make every delivery a job, as before: completed jobs, x-relay-attempt 1 from the worker', async () => {
    const server = await target(ok);
    const beside = await target(ok);
    // Beside a target with first attempts on: the switch is per target.
    const { config } = configFor({
      targets: [{ name: 'queued', url: server.url, events: ['*'], directFirstAttempt: false }, { name: 'direct', url: beside.url, events: ['*'] }],
    });
    const { logger, lines } = recordingLogger();
    await workerRole(config, logger);
    const ids = await storeCallbacks(config, 4);
    const queue = openQueue(config, deliveryQueueName('queued'));
    await expect.poll(async () => (await queue.getJobCounts('completed')).completed).toBe(4);
    expect((await queue.getCompleted()).map((job) => job.returnvalue)).toEqual(Array(4).fill({ status: 204, attempt: 1 }));
    expect(server.requests.map(attemptHeader)).toEqual(['1', '1', '1', '1']);
    expect(new Set(server.requests.map(idOf))).toEqual(new Set(ids));
    // The attempt lines are the worker's, not the router's.
    expect(lines.filter((line) => line.msg === 'delivered' && line.component === 'router' && line.target === 'queued')).toEqual([]);
    await expect.poll(async () => (await recentDeliveries(redis.inspector, config.redis.prefix, 'queued', 10)).map((entry) => entry.by)).toEqual(Array(4).fill('worker'));
    // The other target's deliveries were the router's, without jobs.
    await beside.waitForRequests(4);
    expect(await jobIds(openQueue(config, deliveryQueueName('direct')))).toEqual([]);
  });
});

describe('a target with a rateLimit', () => {
  it('gets every delivery as a job: BullMQ\'s limiter, the rate limit all processes share, counts jobs only', async () => {
    const server = await target(ok);
    const config = oneTarget('limited', server.url, { rateLimit: { max: 100, duration: '1s' } });
    await workerRole(config);
    await storeCallbacks(config, 3);
    const queue = openQueue(config, deliveryQueueName('limited'));
    await expect.poll(async () => (await queue.getJobCounts('completed')).completed).toBe(3);
    await expect.poll(async () => (await recentDeliveries(redis.inspector, config.redis.prefix, 'limited', 10)).map((entry) => entry.by)).toEqual(Array(3).fill('worker'));
  });
});

describe('an ordered target', () => {
  it('attempts a key\'s head itself; a later callback of a key whose head failed waits behind it as a job, and order holds', async () => {
    // k1's first callback fails on its first attempt; everything else is answered at once.
    const server = await recordingTarget(redis, (key, seq, attempt) => ({ status: key === 'k1' && seq === 1 && attempt === 1 ? 500 : 200 }));
    const { config } = configFor({
      targets: [{ name: 'ordered', url: server.server.url, events: ['*'], retry: { schedule: [500], jitter: 0 }, ordering: { key: ['task_id'] } }],
    });
    await workerRole(config);
    const receiver = await startReceiver(config, { logger: recordingLogger().logger });
    redis.cleanup(() => receiver.close());
    const url = `http://127.0.0.1:${receiver.port}${config.server.callbackPath}`;
    const queue = openQueue(config, deliveryQueueName('ordered'));

    // One at a time, each routed before the next: a callback acknowledged while an earlier one is
    // still being routed waits for it (the barrier) and would be queued rather than attempted.
    const routed = () => expect.poll(() => intakePendingCount(redis.inspector, config), { interval: 10 }).toBe(0);
    const k1First = await sendKeyed(url, 'k1', 1);
    await routed();
    const k2First = await sendKeyed(url, 'k2', 1);
    await routed();
    // k2's head was delivered by the router (no job); k1's failed and waits for its retry.
    await expect.poll(() => server.attempts.filter((attempt) => attempt.ok).map((attempt) => attempt.callbackId)).toContain(k2First);
    await expect.poll(() => queue.getJobState(k1First)).toBe('delayed');
    expect(await queue.getJobState(k2First)).toBe('unknown');
    const k1Later = await sendKeyed(url, 'k1', 2);
    await routed();
    const k2Later = await sendKeyed(url, 'k2', 2);
    // k2's next callback is its key's head at once: attempted by the router. k1's waits as a held job.
    await expect.poll(() => server.attempts.map((attempt) => attempt.callbackId)).toContain(k2Later);
    expect(await queue.getJobState(k1Later)).toBe('delayed');
    expect(server.attempts.some((attempt) => attempt.callbackId === k1Later)).toBe(false);

    await expect.poll(() => server.attempts.filter((attempt) => attempt.key === 'k1' && attempt.ok).map((attempt) => attempt.seq), { timeout: 10_000 }).toEqual([1, 2]);
    expect(orderViolations(server.attempts)).toEqual([]);
    // Nothing left held.
    await expect.poll(async () => (await queue.getJobCounts('delayed', 'waiting', 'active')).delayed).toBe(0);
  });
});
