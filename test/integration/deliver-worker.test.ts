/**
 * What the delivery worker (workers/deliver/worker.ts) does besides delivering, one worker started
 * directly per test against the file's Redis and a real target on 127.0.0.1: the metrics and the
 * log line of each decision, the record of recent deliveries, the job's return value and data,
 * failures outside the retry schedule, worker errors, holds, the rate limit, ready() and close().
 * Short schedules (50 ms) keep each test well under 2 s.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import type { Target } from '../../src/config/load.js';
import { registry } from '../../src/shared/metrics.js';
import { recentDeliveries } from '../../src/targets/delivery-record.js';
import { createTargetClient, type TargetClient } from '../../workers/deliver/attempt.js';
import { deadOnFirstAttempt, type TrackedDeliveryData } from '../../workers/deliver/progress.js';
import { startDeliveryWorker, type DeliveryWorker, type DeliveryWorkerOptions } from '../../workers/deliver/worker.js';
import { deliveryJobOptions } from '../../workers/route/job-options.js';
import { callback, deliveryConfigObject, deliveryFixtures, type DeliveryHarness } from '../helpers/delivery.js';
import { parseTestConfig } from '../helpers/config.js';
import { capturingLogger, type LogLine } from '../helpers/log-capture.js';
import { freePort, startRedisServer, useTestRedis } from '../helpers/redis.js';
import { always, flaky, ok } from '../helpers/targets.js';

const redis = useTestRedis();
const { target, harness } = deliveryFixtures(redis);

type Line = LogLine & Record<string, unknown>;
const LEVEL = { debug: 20, info: 30, warn: 40, error: 50 } as const;
const OUTSIDE_SCHEDULE = 'delivery dead-lettered outside the retry schedule (crashed workers or an unexpected error)';

/** A series' value: the one of `metricName` (a histogram has several) with exactly these labels; 0 if never booked. */
async function metric(name: string, labels: Record<string, string>, metricName = name): Promise<number> {
  const found = registry.getSingleMetric(name);
  if (!found) throw new Error(`no metric ${name}`);
  const { values } = await found.get();
  const key = (of: object) => JSON.stringify(Object.entries(of).sort());
  const entry = values.find((value) => ((value as { metricName?: string }).metricName ?? name) === metricName && key(value.labels) === key(labels));
  return entry?.value ?? 0;
}

/** The `deliveries` counter of a target, by outcome. */
async function booked(name: string): Promise<{ delivered: number; retry: number; dead: number }> {
  const count = (outcome: string) => metric('zego_relay_deliveries_total', { target: name, outcome });
  return { delivered: await count('delivered'), retry: await count('retry'), dead: await count('dead') };
}

/** How many attempts the duration histogram holds for a target. */
function timedAttempts(name: string): Promise<number> {
  return metric('zego_relay_delivery_duration_seconds', { target: name }, 'zego_relay_delivery_duration_seconds_count');
}

function linesWith(lines: Line[], msg: string): Line[] {
  return lines.filter((line) => line.msg === msg);
}

function targetOf(relay: DeliveryHarness, name: string): Target {
  return relay.config.targets.find((candidate) => candidate.name === name)!;
}

/** Starts the worker of `name` logging to a capturing logger; closed after the test (before the harness). */
async function startWorker(relay: DeliveryHarness, name: string, options: DeliveryWorkerOptions = {}) {
  const { logger, lines } = capturingLogger('debug');
  const worker = startDeliveryWorker(targetOf(relay, name), relay.config, logger, options);
  redis.cleanup(() => worker.close(2_000));
  await worker.ready();
  return { worker, lines: lines as Line[] };
}

async function jobOf(relay: DeliveryHarness, name: string, callbackId: string): Promise<Job<TrackedDeliveryData>> {
  return (await relay.queue(name).getJob(callbackId)) as Job<TrackedDeliveryData>;
}

/** A client that throws on every attempt: an unexpected failure of the processor. */
const explodingClient: TargetClient = {
  attempt: () => Promise.reject(new Error('client exploded')),
  abortInFlight() {},
  close() {},
};

describe('what the worker books per decision', () => {
  it('books a 2xx as delivered: counter, duration, info line, the record by the worker and the job\'s return value', async () => {
    const server = await target(ok);
    const relay = await harness({ targets: [{ name: 'wk-delivered', url: server.url }] });
    const { lines } = await startWorker(relay, 'wk-delivered');
    const data = await relay.enqueue('wk-delivered');
    await relay.waitForState('wk-delivered', data.callbackId, 'completed', 3_000);

    expect((await jobOf(relay, 'wk-delivered', data.callbackId)).returnvalue).toEqual({ status: 204, attempt: 1 });
    expect(await booked('wk-delivered')).toEqual({ delivered: 1, retry: 0, dead: 0 });
    expect(await timedAttempts('wk-delivered')).toBe(1);
    expect(linesWith(lines, 'delivered')).toEqual([
      expect.objectContaining({ level: LEVEL.info, target: 'wk-delivered', callbackId: data.callbackId, attempt: 1, status: 204, outcome: 'delivered' }),
    ]);
    await expect
      .poll(() => recentDeliveries(relay.connection, relay.config.redis.prefix, 'wk-delivered', 10))
      .toEqual([expect.objectContaining({ callbackId: data.callbackId, event: data.event, attempt: 1, status: 204, by: 'worker' })]);
    // Nothing went wrong on the way (a listener throwing would be a worker error).
    expect(lines.filter((line) => line.level >= LEVEL.warn)).toEqual([]);
    // Its connection says whose it is (CLIENT LIST).
    expect(String(await redis.inspector.client('LIST'))).toContain('name=zego-relay:worker:wk-delivered ');
  });

  it('books a failed attempt that will be retried as a retry with a warn line, then delivers on attempt 2', async () => {
    const server = await target(flaky(1));
    const relay = await harness({ targets: [{ name: 'wk-retry', url: server.url, retry: { schedule: [50], jitter: 0 } }] });
    const { lines } = await startWorker(relay, 'wk-retry');
    const data = await relay.enqueue('wk-retry');
    await relay.waitForState('wk-retry', data.callbackId, 'completed', 3_000);

    expect((await jobOf(relay, 'wk-retry', data.callbackId)).returnvalue).toEqual({ status: 200, attempt: 2 });
    expect(await booked('wk-retry')).toEqual({ delivered: 1, retry: 1, dead: 0 });
    expect(await timedAttempts('wk-retry')).toBe(2);
    expect(linesWith(lines, 'delivery failed; will retry')).toEqual([
      expect.objectContaining({ level: LEVEL.warn, target: 'wk-retry', callbackId: data.callbackId, attempt: 1, status: 500, outcome: 'retry' }),
    ]);
  });

  it('dead-letters a 410 once: counted dead, an error line, nothing about a failure outside the schedule', async () => {
    const server = await target(always(410));
    const relay = await harness({ targets: [{ name: 'wk-gone', url: server.url, retry: { schedule: [50], jitter: 0 } }] });
    const { lines } = await startWorker(relay, 'wk-gone');
    const data = await relay.enqueue('wk-gone');
    await relay.waitForState('wk-gone', data.callbackId, 'failed', 3_000);

    const job = await jobOf(relay, 'wk-gone', data.callbackId);
    expect({ attempts: job.data.attempts, deadLettered: job.data.deadLettered }).toEqual({ attempts: 1, deadLettered: true });
    expect(await booked('wk-gone')).toEqual({ delivered: 0, retry: 0, dead: 1 });
    expect(linesWith(lines, 'delivery failed; dead-lettered')).toEqual([
      expect.objectContaining({ level: LEVEL.error, target: 'wk-gone', callbackId: data.callbackId, attempt: 1, status: 410, outcome: 'dead' }),
    ]);
    expect(lines.filter((line) => line.level >= LEVEL.error).map((line) => line.msg)).toEqual(['delivery failed; dead-lettered']);
  });

  it('dead-letters a job the router marked as dead, without an attempt and without counting it again', async () => {
    const server = await target(ok);
    const relay = await harness({ targets: [{ name: 'wk-routed-dead', url: server.url }] });
    const { lines } = await startWorker(relay, 'wk-routed-dead');
    const reason = 'target answered 410 Gone (gone: not retried)';
    const data = await relay.enqueue('wk-routed-dead', deadOnFirstAttempt(callback(), reason));
    await relay.waitForState('wk-routed-dead', data.callbackId, 'failed', 3_000);

    const job = await jobOf(relay, 'wk-routed-dead', data.callbackId);
    expect(job.failedReason).toBe(reason);
    expect({ attempts: job.data.attempts, deadLettered: job.data.deadLettered, deadLetterNow: job.data.deadLetterNow }).toEqual({ attempts: 1, deadLettered: true, deadLetterNow: undefined });
    expect(server.requests).toHaveLength(0);
    // The router booked and logged its attempt.
    expect(await booked('wk-routed-dead')).toEqual({ delivered: 0, retry: 0, dead: 0 });
    expect(await timedAttempts('wk-routed-dead')).toBe(0);
    expect(lines.filter((line) => line.level >= LEVEL.warn)).toEqual([]);
  });

  it('holds a failure while the breaker is open: booked as a retry with a debug line, no attempt spent', async () => {
    const server = await target(always(503));
    const relay = await harness({
      targets: [{ name: 'wk-held', url: server.url, retry: { schedule: [50, 50, 50], jitter: 0 }, breaker: { openAfter: 40, minFailures: 2, probeInterval: '5s' } }],
    });
    const { lines } = await startWorker(relay, 'wk-held');
    const data = await relay.enqueue('wk-held');
    await expect.poll(() => linesWith(lines, 'delivery failed while the breaker is open; held, no attempt spent').length).toBe(1);

    expect(linesWith(lines, 'delivery failed while the breaker is open; held, no attempt spent')).toEqual([
      expect.objectContaining({ level: LEVEL.debug, target: 'wk-held', callbackId: data.callbackId, attempt: 2, status: 503, outcome: 'held' }),
    ]);
    expect(await booked('wk-held')).toEqual({ delivered: 0, retry: 2, dead: 0 });
    // Attempt 2 was held, not spent: the data still says one attempt.
    expect((await jobOf(relay, 'wk-held', data.callbackId)).data.attempts).toBe(1);
  });
});

describe('failures outside the retry schedule', () => {
  it('books an unexpected failure of the processor as dead, logs it and marks the job as a dead letter', async () => {
    const server = await target(ok);
    const relay = await harness({ targets: [{ name: 'wk-unexpected', url: server.url }] });
    const { lines } = await startWorker(relay, 'wk-unexpected', { client: explodingClient });
    const data = await relay.enqueue('wk-unexpected');
    await relay.waitForState('wk-unexpected', data.callbackId, 'failed', 3_000);

    await expect.poll(async () => (await jobOf(relay, 'wk-unexpected', data.callbackId)).data.deadLettered).toBe(true);
    // The given client made the attempt (the target never heard of it).
    expect(server.requests).toHaveLength(0);
    expect(await booked('wk-unexpected')).toEqual({ delivered: 0, retry: 0, dead: 1 });
    expect(linesWith(lines, OUTSIDE_SCHEDULE)).toEqual([
      expect.objectContaining({ level: LEVEL.error, target: 'wk-unexpected', callbackId: data.callbackId, error: 'client exploded' }),
    ]);
  });

  it('warns when it cannot mark such a failure as a dead letter (the job is gone)', async () => {
    const relay = await harness({ targets: [{ name: 'wk-gone-job' }] });
    const { lines } = await startWorker(relay, 'wk-gone-job', { client: explodingClient });
    const data = callback();
    // Removed as soon as it fails: nothing is left to mark.
    await relay.queue('wk-gone-job').add(data.event, data, { ...deliveryJobOptions(targetOf(relay, 'wk-gone-job'), relay.config.retention, data.callbackId), removeOnFail: true });

    await expect.poll(() => linesWith(lines, 'could not mark the dead letter').length).toBe(1);
    expect(linesWith(lines, 'could not mark the dead letter')[0]).toMatchObject({ level: LEVEL.warn, target: 'wk-gone-job', callbackId: data.callbackId, err: expect.objectContaining({ message: expect.any(String) }) });
    expect(linesWith(lines, OUTSIDE_SCHEDULE)).toHaveLength(1);
  });

  it('logs a worker error that is not a Redis outage', async () => {
    const server = await target(() => ({ hold: true }));
    const relay = await harness({ targets: [{ name: 'wk-lock-lost', url: server.url }] });
    const { lines } = await startWorker(relay, 'wk-lock-lost');
    const data = await relay.enqueue('wk-lock-lost');
    await server.waitForRequests(1);
    // Someone took the job's lock away: completing the job fails inside BullMQ.
    await redis.inspector.del(`${relay.queue('wk-lock-lost').toKey(data.callbackId)}:lock`);
    server.release(200);

    await expect.poll(() => linesWith(lines, 'delivery worker error').length).toBeGreaterThanOrEqual(1);
    expect(linesWith(lines, 'delivery worker error')[0]).toMatchObject({ level: LEVEL.error, target: 'wk-lock-lost', err: expect.objectContaining({ message: expect.stringContaining('Missing lock') }) });
  });
});

describe('limits and holds', () => {
  it('spaces the requests of a target with a rate limit', async () => {
    const server = await target(ok);
    const relay = await harness({ targets: [{ name: 'wk-limited', url: server.url, concurrency: 4, rateLimit: { max: 1, duration: 250 } }] });
    await startWorker(relay, 'wk-limited');
    for (let i = 0; i < 3; i += 1) await relay.enqueue('wk-limited');

    const requests = await server.waitForRequests(3, 5_000);
    expect(requests[1]!.at - requests[0]!.at).toBeGreaterThanOrEqual(200);
    expect(requests[2]!.at - requests[1]!.at).toBeGreaterThanOrEqual(200);
  });

  it('honours a hold that another worker process put on a breaker target\'s queue', async () => {
    const server = await target(ok);
    const relay = await harness({ targets: [{ name: 'wk-hold', url: server.url, breaker: { openAfter: '1m', minFailures: 5, probeInterval: '1s' } }] });
    await startWorker(relay, 'wk-hold');
    // What a worker's hold does (Queue.rateLimit), as if from another process.
    const heldAt = Date.now();
    await relay.queue('wk-hold').rateLimit(600);
    const data = await relay.enqueue('wk-hold');

    await relay.waitForState('wk-hold', data.callbackId, 'completed', 3_000);
    expect(server.requests[0]!.at - heldAt).toBeGreaterThanOrEqual(500);
  });
});

/** A target that counts its open connections (to see a keep-alive socket closed). */
async function connectionCountingTarget(): Promise<{ url: string; open: () => number }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(204).end());
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  redis.cleanup(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, open: () => sockets.size };
}

describe('ready and close', () => {
  it('uses a shared client it is given and leaves it open at close', async () => {
    const server = await target(ok);
    const relay = await harness({ targets: [{ name: 'wk-shared', url: server.url }] });
    const real = createTargetClient(targetOf(relay, 'wk-shared'), relay.config.delivery);
    redis.cleanup(async () => real.close());
    const used = { attempts: 0, closes: 0 };
    const shared: TargetClient = {
      attempt: (...args) => {
        used.attempts += 1;
        return real.attempt(...args);
      },
      abortInFlight: () => real.abortInFlight(),
      close: () => {
        used.closes += 1;
      },
    };
    const { worker } = await startWorker(relay, 'wk-shared', { client: shared });
    const data = await relay.enqueue('wk-shared');
    await relay.waitForState('wk-shared', data.callbackId, 'completed', 3_000);
    await worker.close(2_000);
    expect(used).toEqual({ attempts: 1, closes: 0 });
  });

  it('closes its own client at close: the keep-alive connection to the target ends, without a forced-shutdown warning', async () => {
    const counting = await connectionCountingTarget();
    const relay = await harness({ targets: [{ name: 'wk-own', url: counting.url }] });
    const { worker, lines } = await startWorker(relay, 'wk-own');
    const data = await relay.enqueue('wk-own');
    await relay.waitForState('wk-own', data.callbackId, 'completed', 3_000);
    expect(counting.open()).toBe(1);

    await worker.close(2_000);
    await expect.poll(() => counting.open()).toBe(0);
    expect(lines.filter((line) => line.level >= LEVEL.warn)).toEqual([]);
  });

  it('at the shutdown deadline warns, cuts the delivery in flight and puts it back without booking it', async () => {
    const server = await target(() => ({ hold: true }));
    const relay = await harness({ targets: [{ name: 'wk-forced', url: server.url, timeout: 60_000, retry: { schedule: [50], jitter: 0 } }] });
    const { worker, lines } = await startWorker(relay, 'wk-forced');
    const data = await relay.enqueue('wk-forced');
    await server.waitForRequests(1);

    await worker.close(200);
    expect(linesWith(lines, 'deliveries still in flight at the shutdown deadline; aborting them')).toEqual([
      expect.objectContaining({ level: LEVEL.warn, target: 'wk-forced', timeoutMs: 200 }),
    ]);
    expect(linesWith(lines, 'delivery interrupted by shutdown; put back')).toEqual([
      expect.objectContaining({ level: LEVEL.warn, target: 'wk-forced', callbackId: data.callbackId, attempt: 1, status: null, outcome: 'interrupted' }),
    ]);
    expect(await booked('wk-forced')).toEqual({ delivered: 0, retry: 0, dead: 0 });
    expect(['waiting', 'delayed']).toContain(await relay.queue('wk-forced').getJobState(data.callbackId));
  });

  it('ready() resolves only once Redis is reachable; the outage meanwhile is not a worker error', async () => {
    const port = await freePort();
    const config = parseTestConfig(deliveryConfigObject({ redisUrl: `redis://127.0.0.1:${port}`, targets: [{ name: 'wk-ready' }] }));
    const { logger, lines } = capturingLogger('debug');
    const worker: DeliveryWorker = startDeliveryWorker(config.targets[0]!, config, logger);
    let ready = false;
    const readiness = worker.ready().then(() => {
      ready = true;
    });
    await expect.poll(() => lines.some((line) => line.msg.startsWith('Redis is unreachable'))).toBe(true);
    expect(ready).toBe(false);

    const server = await startRedisServer({ port });
    redis.cleanup(() => server.stop());
    redis.cleanup(() => worker.close(2_000));
    await readiness;
    expect(linesWith(lines as Line[], 'delivery worker error')).toEqual([]);
  });
});
