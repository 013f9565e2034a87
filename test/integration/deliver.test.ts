import { randomBytes } from 'node:crypto';
import type { Job } from 'bullmq';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { replayDeadLetters, UnknownTargetError } from '../../src/targets/replay.js';
import { USER_AGENT } from '../../workers/deliver/user-agent.js';
import { callback, deliveryFixtures } from '../helpers/delivery.js';
import { useTestRedis } from '../helpers/redis.js';
import { always, flaky, ok } from '../helpers/targets.js';

const redis = useTestRedis();

const { target, harness } = deliveryFixtures(redis);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('delivery outcomes', () => {
  it('retries a flaky target until it answers 2xx, with the same webhook-id and an increasing attempt number', async () => {
    const server = await target(flaky(2));
    const relay = await harness({ targets: [{ name: 'flaky', url: server.url }] });
    await relay.startWorkers();
    const data = await relay.enqueue('flaky');
    await relay.waitForState('flaky', data.callbackId, 'completed');
    expect(server.requests.map((request) => request.headers['webhook-id'])).toEqual(Array(3).fill(data.callbackId));
    expect(server.requests.map((request) => request.headers['x-relay-attempt'])).toEqual(['1', '2', '3']);
  });

  it('delivers to a target that is down at first and comes back up', async () => {
    const server = await target(ok);
    await server.down();
    const relay = await harness({ targets: [{ name: 'down-up', url: server.url, retry: { schedule: [100, 100, 100, 100, 100, 100], jitter: 0 } }] });
    await relay.startWorkers();
    const data = await relay.enqueue('down-up');
    // Attempts were made (and failed) while it was down: each one leaves a line in the job's log.
    await expect.poll(async () => (await relay.queue('down-up').getJobLogs(data.callbackId)).count, { timeout: 5_000 }).toBeGreaterThanOrEqual(1);
    expect(server.requests).toHaveLength(0);
    await server.up();
    await relay.waitForState('down-up', data.callbackId, 'completed');
    expect(server.requests).toHaveLength(1);
    expect(Number(server.requests[0]!.headers['x-relay-attempt'])).toBeGreaterThan(1);
  });

  it('retries a target slower than the timeout', async () => {
    const server = await target((_request, index) => (index === 0 ? { status: 200, delayMs: 1_000 } : { status: 200 }));
    const relay = await harness({ targets: [{ name: 'slow', url: server.url, timeout: 200 }] });
    await relay.startWorkers();
    const data = await relay.enqueue('slow');
    await relay.waitForState('slow', data.callbackId, 'completed');
    expect(server.requests.map((request) => request.headers['x-relay-attempt'])).toEqual(['1', '2']);
    const logs = await relay.queue('slow').getJobLogs(data.callbackId);
    expect(logs.logs[0]).toMatch(/attempt 1: no answer within 200 ms \(timeout\)/);
  });

  it('dead-letters a 410 after one attempt', async () => {
    const server = await target(always(410));
    const relay = await harness({ targets: [{ name: 'gone', url: server.url }] });
    await relay.startWorkers();
    const data = await relay.enqueue('gone');
    // Failed is final: no attempt can follow, so the count below is the last word.
    await relay.waitForState('gone', data.callbackId, 'failed');
    expect(server.requests).toHaveLength(1);
    const job = await relay.queue('gone').getJob(data.callbackId);
    expect(job?.failedReason).toMatch(/target answered 410 Gone \(gone: not retried\)/);
    expect(job?.attemptsMade).toBe(1);
  });

  it.each([429, 503])('honours Retry-After on %i (a floor above the scheduled 30 ms)', async (status) => {
    const server = await target((_request, index) => (index === 0 ? { status, headers: { 'retry-after': '1' } } : { status: 200 }));
    const relay = await harness({ targets: [{ name: 'limited', url: server.url, retry: { schedule: [30, 5_000], jitter: 0 } }] });
    await relay.startWorkers();
    const data = await relay.enqueue('limited');
    await relay.waitForState('limited', data.callbackId, 'completed');
    const [first, second] = server.requests;
    const waited = second!.at - first!.at;
    expect(waited).toBeGreaterThanOrEqual(950);
    expect(waited).toBeLessThan(3_000);
  });

  it('treats a redirect as a failure and does not follow it', async () => {
    const elsewhere = await target(ok);
    const server = await target(always(302, { location: elsewhere.url }));
    const relay = await harness({ targets: [{ name: 'moved', url: server.url, retry: { schedule: [20], jitter: 0 } }] });
    await relay.startWorkers();
    const data = await relay.enqueue('moved');
    await relay.waitForState('moved', data.callbackId, 'failed');
    expect(server.requests).toHaveLength(2);
    expect(elsewhere.requests).toHaveLength(0);
    const job = await relay.queue('moved').getJob(data.callbackId);
    expect(job?.failedReason).toContain(`target answered 302 Found: redirect to ${elsewhere.url} not followed`);
  });

  it('stops reading a response body at delivery.maxResponseBytes (an endless 200 still counts as delivered)', async () => {
    const server = await target(() => ({ endlessBody: true }));
    const relay = await harness({ targets: [{ name: 'chatty', url: server.url, timeout: 5_000 }], delivery: { maxResponseBytes: '64kb' } });
    await relay.startWorkers();
    const started = Date.now();
    const data = await relay.enqueue('chatty');
    await relay.waitForState('chatty', data.callbackId, 'completed');
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(server.requests).toHaveLength(1);
  });
});

describe('what a target receives', () => {
  it('gets the body byte for byte (64-bit integers intact) and exactly the contract headers, signed', async () => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`;
    const server = await target(ok);
    const relay = await harness({
      targets: [{ name: 'exact', url: server.url, signingSecret: secret, headers: { Authorization: 'Bearer token-1' } }],
    });
    await relay.startWorkers();
    const body = '{"appid":111111,"event":"room_close","room_session_id":6085791336856668982,"name":"房间 ✓","timestamp":1689835223}';
    const data = await relay.enqueue('exact', callback({ event: 'room_close', body }));
    const [request] = await server.waitForRequests(1);
    expect(request!.body.equals(Buffer.from(body, 'utf8'))).toBe(true);
    expect(request!.method).toBe('POST');
    expect(request!.headers).toMatchObject({
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'webhook-id': data.callbackId,
      'x-zego-event': 'room_close',
      'x-zego-appid': '111111',
      'x-relay-attempt': '1',
      authorization: 'Bearer token-1',
    });
    const timestamp = Number(request!.headers['webhook-timestamp']);
    expect(Math.abs(timestamp - Date.now() / 1000)).toBeLessThan(5);
    // No header twice (a target header must not duplicate a protocol one).
    const names = request!.rawHeaders.filter((_value, index) => index % 2 === 0).map((name) => name.toLowerCase());
    expect(new Set(names).size).toBe(names.length);
    // An independent verifier: the standardwebhooks library, on the raw bytes received.
    expect(() => new Webhook(secret).verify(request!.body.toString('utf8'), request!.headers as Record<string, string>)).not.toThrow();
  });
});

describe('dead letters', () => {
  it('keep the last status and error after the last attempt; replay re-queues them with fresh attempts', async () => {
    const server = await target(always(500));
    const relay = await harness({ targets: [{ name: 'broken', url: server.url, retry: { schedule: [20, 20], jitter: 0 } }] });
    await relay.startWorkers();
    const data = await relay.enqueue('broken');
    await relay.waitForState('broken', data.callbackId, 'failed');
    expect(server.requests).toHaveLength(3);
    const job = await relay.queue('broken').getJob(data.callbackId);
    expect(job?.failedReason).toBe('target answered 500 Internal Server Error');
    const { logs } = await relay.queue('broken').getJobLogs(data.callbackId);
    expect(logs).toHaveLength(3);
    expect(logs[2]).toMatch(/^attempt 3: target answered 500/);

    server.respond = flaky(5, 500); // requests 0-2 failed before; 3 and 4 fail too, then 200
    await expect(replayDeadLetters({ config: relay.config, target: 'broken' })).resolves.toBe(1);
    await relay.waitForState('broken', data.callbackId, 'completed');
    // A full schedule again: attempts 1, 2, 3 (it would be dead after one try without the reset).
    expect(server.requests.slice(3).map((request) => request.headers['x-relay-attempt'])).toEqual(['1', '2', '3']);
  });

  it('get a full schedule again when retried the way Bull Board does (job.retry("failed"))', async () => {
    const server = await target(always(503));
    const relay = await harness({ targets: [{ name: 'board', url: server.url, retry: { schedule: [20], jitter: 0 } }] });
    await relay.startWorkers();
    const data = await relay.enqueue('board');
    await relay.waitForState('board', data.callbackId, 'failed');
    server.respond = flaky(3, 503); // the retried job fails once more, then succeeds
    const job = (await relay.queue('board').getJob(data.callbackId)) as Job;
    await job.retry('failed');
    await relay.waitForState('board', data.callbackId, 'completed');
    expect(server.requests.slice(2).map((request) => request.headers['x-relay-attempt'])).toEqual(['1', '2']);
  });

  it('replay honours --since and --limit, newest first, and names an unknown target', async () => {
    const server = await target(always(410));
    const relay = await harness({ targets: [{ name: 'old', url: server.url }] });
    await relay.startWorkers();
    const jobs = [];
    for (let i = 0; i < 4; i += 1) {
      const data = await relay.enqueue('old');
      await relay.waitForState('old', data.callbackId, 'failed');
      jobs.push(data);
      await sleep(30);
    }
    const lastFailed = (await relay.queue('old').getJob(jobs[3]!.callbackId))!.finishedOn!;
    const firstFailed = (await relay.queue('old').getJob(jobs[0]!.callbackId))!.finishedOn!;
    // Only dead letters that failed in the last (lastFailed - firstFailed) ms, from lastFailed: not the first.
    const sinceMs = lastFailed - firstFailed - 1;
    await expect(replayDeadLetters({ config: relay.config, target: 'old', sinceMs, limit: 2, now: () => lastFailed })).resolves.toBe(2);
    const states = await Promise.all(jobs.map((job) => relay.queue('old').getJobState(job.callbackId)));
    expect(states[0]).toBe('failed');
    expect(states[1]).toBe('failed');
    await expect(replayDeadLetters({ config: relay.config, target: 'nope' })).rejects.toThrow(UnknownTargetError);
    await expect(replayDeadLetters({ config: relay.config, target: 'nope' })).rejects.toThrow(/no target named "nope".*targets: old/);
  });
});

describe('retention', () => {
  it('trims delivered jobs to retention.completedCount', async () => {
    const server = await target(ok);
    const relay = await harness({ targets: [{ name: 'busy', url: server.url }], retention: { completedCount: 5 } });
    await relay.startWorkers();
    for (let i = 0; i < 30; i += 1) await relay.enqueue('busy');
    await server.waitForRequests(30);
    // Every job has finished (none waiting or active): each completion has trimmed what it would.
    const counts = () => relay.queue('busy').getJobCounts('completed', 'waiting', 'active');
    await expect.poll(async () => { const now = await counts(); return (now.waiting ?? 0) + (now.active ?? 0); }, { timeout: 5_000 }).toBe(0);
    const { completed } = await counts();
    expect(completed).toBeLessThanOrEqual(5);
    expect(completed).toBeGreaterThan(0);
  });
});
