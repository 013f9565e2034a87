/**
 * The circuit breaker against real targets and a real Redis, on a scaled-down schedule
 * (200 ms .. 3.2 s, six attempts in 6.2 s): a target down for longer than its whole schedule has
 * its deliveries held instead of dead-lettered, a flaky target never trips it, and a 410 neither
 * trips it nor escapes the dead letters.
 */
import type { Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { BreakerStore, breakerKey } from '../../src/targets/breaker-store.js';
import type { TrackedDeliveryData } from '../../workers/deliver/progress.js';
import { deliveryFixtures, recordingLogger, type DeliveryHarness } from '../helpers/delivery.js';
import { useTestRedis } from '../helpers/redis.js';
import { always } from '../helpers/targets.js';

const redis = useTestRedis();

const SCHEDULE = [200, 400, 800, 1_600, 3_200];
const BREAKER = { openAfter: '1s', minFailures: 3, probeInterval: '500ms' };

const { target, harness } = deliveryFixtures(redis);

function breakerOf(relay: DeliveryHarness, name: string): BreakerStore {
  return new BreakerStore(relay.connection, relay.config.redis.prefix, name);
}

/** Each delivery's spent attempts, by callback id. */
async function attemptCounts(relay: DeliveryHarness, name: string, ids: readonly string[]): Promise<Record<string, number>> {
  const jobs = await Promise.all(ids.map((id) => relay.queue(name).getJob(id) as Promise<Job<TrackedDeliveryData> | undefined>));
  return Object.fromEntries(jobs.map((job, index) => [ids[index], job?.data.attempts ?? 0]));
}

describe('the breaker key', () => {
  it('has one hash tag, its own target\'s (ready for Redis Cluster)', () => {
    expect(breakerKey('zego-relay', 'billing')).toBe('{zego-relay:deliver-billing}:breaker');
    const tagOf = (key: string) => /\{([^}]*)\}/.exec(key)?.[1];
    expect(tagOf(breakerKey('{zego-relay}', 'billing'))).toBe('zego-relay:deliver-billing');
    expect(tagOf(breakerKey('zego-relay', 'audit'))).not.toBe(tagOf(breakerKey('zego-relay', 'billing')));
  });
});

describe('a target down for longer than its whole retry schedule', () => {
  it('opens the breaker, spends no attempt while open, and delivers everything once a probe succeeds', async () => {
    const down = { value: true };
    const server = await target(() => ({ status: down.value ? 503 : 200 }));
    const relay = await harness({ targets: [{ name: 'billing', url: server.url, concurrency: 4, retry: { schedule: SCHEDULE, jitter: 0 }, breaker: BREAKER }] });
    const { logger, lines } = recordingLogger();
    await relay.startWorkers(logger);
    const breaker = breakerOf(relay, 'billing');
    const wentDown = Date.now();
    const ids: string[] = [];
    for (let i = 0; i < 12; i += 1) ids.push((await relay.enqueue('billing')).callbackId);

    await expect.poll(async () => (await breaker.snapshot()).open, { timeout: 6_000, interval: 50 }).toBe(true);
    expect(lines.filter((line) => line.msg?.toString().startsWith('breaker opened'))).toHaveLength(1);

    // While open: one probe per probeInterval reaches the target, and no attempt count moves.
    const seen = server.requests.length;
    await server.waitForRequests(seen + 1, 3_000);
    const before = await attemptCounts(relay, 'billing', ids);
    const probesFrom = server.requests.length;
    await server.waitForRequests(probesFrom + 4, 5_000);
    expect(await attemptCounts(relay, 'billing', ids)).toEqual(before);
    const probeTimes = server.requests.slice(probesFrom, probesFrom + 4).map((request) => request.at);
    for (let i = 1; i < probeTimes.length; i += 1) expect(probeTimes[i]! - probeTimes[i - 1]!).toBeGreaterThanOrEqual(400);
    expect(Math.max(...Object.values(before))).toBeLessThan(1 + SCHEDULE.length);
    // A failing probe is logged once per change of its error, not once per probe.
    expect(lines.filter((line) => line.msg?.toString().startsWith('breaker open: the probe failed;')).length).toBeLessThanOrEqual(1);
    expect(lines.filter((line) => line.outcome === 'held' && Number(line.level) >= 40)).toEqual([]);

    // Down for 8 s in all: past the 6.2 s the schedule would have lasted.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, wentDown + 8_000 - Date.now())));
    down.value = false;
    await expect.poll(() => relay.queue('billing').getJobCounts('completed').then((counts) => counts.completed), { timeout: 10_000 }).toBe(ids.length);
    expect((await relay.queue('billing').getJobCounts('failed')).failed).toBe(0);
    expect((await breaker.snapshot()).open).toBe(false);
    const delivered = new Set(server.requests.filter((request) => request.at > 0).map((request) => String(request.headers['webhook-id'])));
    expect([...delivered].sort()).toEqual([...ids].sort());
    expect(lines.filter((line) => line.msg?.toString().startsWith('breaker closed'))).toHaveLength(1);
  }, 30_000);
});

describe('a delivery the target always refuses', () => {
  it('does not keep the breaker shut: a failed probe goes to the back, the next probe tries another', async () => {
    let poison = '';
    const server = await target((request) => ({ status: request.headers['webhook-id'] === poison ? 500 : 200 }));
    const relay = await harness({ targets: [{ name: 'picky', url: server.url, concurrency: 1, retry: { schedule: SCHEDULE, jitter: 0 }, breaker: { openAfter: '300ms', minFailures: 2, probeInterval: '300ms' } }] });
    const breaker = breakerOf(relay, 'picky');
    await relay.startWorkers();
    poison = (await relay.enqueue('picky')).callbackId;
    await expect.poll(async () => (await breaker.snapshot()).open, { timeout: 5_000, interval: 20 }).toBe(true);
    // Queued behind the refused one while the breaker is open.
    const others: string[] = [];
    for (let i = 0; i < 3; i += 1) others.push((await relay.enqueue('picky')).callbackId);
    for (const id of others) await relay.waitForState('picky', id, 'completed', 10_000);
    expect((await breaker.snapshot()).open).toBe(false);
  }, 30_000);
});

describe('a flaky target (half of the answers fail)', () => {
  it('never opens the breaker, and every delivery arrives', async () => {
    // Half of all answers fail: the first try of every delivery, never the second (alternating by
    // arrival instead could starve one delivery when two run side by side).
    const tried = new Set<string>();
    const server = await target((request) => {
      const id = String(request.headers['webhook-id']);
      const first = !tried.has(id);
      tried.add(id);
      return { status: first ? 500 : 200, delayMs: 20 };
    });
    const relay = await harness({ targets: [{ name: 'flaky', url: server.url, concurrency: 2, retry: { schedule: SCHEDULE, jitter: 0 }, breaker: BREAKER }] });
    const { logger, lines } = recordingLogger();
    await relay.startWorkers(logger);
    const ids: string[] = [];
    // Spread over more than openAfter, so a streak could have lasted long enough.
    for (let i = 0; i < 40; i += 1) {
      ids.push((await relay.enqueue('flaky')).callbackId);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await expect.poll(() => relay.queue('flaky').getJobCounts('completed').then((counts) => counts.completed), { timeout: 15_000 }).toBe(ids.length);
    expect(server.requests.length).toBe(2 * ids.length);
    expect(lines.filter((line) => String(line.msg).startsWith('breaker'))).toEqual([]);
    expect((await breakerOf(relay, 'flaky').snapshot()).open).toBe(false);
  }, 30_000);
});

describe('a target answering 410', () => {
  it('never opens the breaker, and its deliveries are dead-lettered after one attempt as before', async () => {
    const server = await target(always(410));
    const relay = await harness({ targets: [{ name: 'gone', url: server.url, retry: { schedule: SCHEDULE, jitter: 0 }, breaker: { ...BREAKER, minFailures: 1 } }] });
    await relay.startWorkers();
    const ids: string[] = [];
    for (let i = 0; i < 10; i += 1) {
      ids.push((await relay.enqueue('gone')).callbackId);
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    await expect.poll(() => relay.queue('gone').getJobCounts('failed').then((counts) => counts.failed), { timeout: 10_000 }).toBe(ids.length);
    expect(server.requests).toHaveLength(ids.length);
    const snapshot = await breakerOf(relay, 'gone').snapshot();
    expect(snapshot).toEqual({ open: false, failures: 0 });
    const job = (await relay.queue('gone').getJob(ids[0]!)) as Job<TrackedDeliveryData>;
    expect(job.failedReason).toMatch(/target answered 410/);
    expect(job.data).toMatchObject({ attempts: 1, deadLettered: true });
  }, 30_000);
});
