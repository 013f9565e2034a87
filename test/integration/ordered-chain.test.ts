/**
 * The router's chain per key (docs/RELIABILITY.md, "Ordered delivery per key", and "First attempts
 * by the router"): a key's callbacks in one batch are attempted by the router one after another,
 * each once the gate finished the one before and named it next, with no job; a failed link and
 * what follows it become jobs, still in order; a router that died between a link's finish and the
 * next attempt leaves a state the next router goes on from, without a second delivery.
 */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/lib/logger.js';
import { ROUTER_GROUP, intakeKeys } from '../../src/shared/names.js';
import { recentDeliveries } from '../../src/targets/delivery-record.js';
import { HELD_DELAY_MS, KeyGate, gateSettings } from '../../src/targets/key-gate.js';
import { entryPosition, watermarkPosition } from '../../src/targets/order-position.js';
import type { RelayConfig } from '../../src/config/load.js';
import { afterFailedAttempt } from '../../workers/deliver/progress.js';
import { entriesOfRead } from '../../workers/route/intake-entry.js';
import { deliveryJobOptions } from '../../workers/route/job-options.js';
import { readWatermark } from '../../workers/route/intake-watermark.js';
import { startWorkers } from '../../workers/role.js';
import { testConfig } from '../helpers/config.js';
import { deliveryHarness } from '../helpers/delivery.js';
import { allDelivered, keyName, orderViolations, recordingTarget, storeKeyed, type RecordingTarget } from '../helpers/ordering.js';
import { useTestRedis } from '../helpers/redis.js';

const redis = useTestRedis();

/** An ordered target at `server`, batches big enough to hold every callback of a test. */
function orderedConfig(server: RecordingTarget, intake: Record<string, unknown> = {}): RelayConfig {
  return testConfig({
    redisUrl: redis.url, intake: { batchSize: 100, ...intake },
    targets: [{ name: 'ordered', url: server.server.url, events: ['mix_*'], retry: { schedule: [300], jitter: 0 }, ordering: { key: ['task_id'] } }],
  });
}

/** A router read every entry of the intake and died: its batch stays pending. Returns the batch entered into the gate. */
async function deadRouterEntered(config: RelayConfig, ids: readonly string[]) {
  const stream = intakeKeys(config.redis.prefix, 0).stream;
  await redis.inspector.xgroup('CREATE', stream, ROUTER_GROUP, '0', 'MKSTREAM');
  const entries = entriesOfRead(await redis.inspector.xreadgroup('GROUP', ROUTER_GROUP, 'dead-router', 'COUNT', 10, 'STREAMS', stream, '>'));
  expect(entries.map((entry) => entry.data?.callbackId)).toEqual(ids);
  const gate = new KeyGate(redis.inspector, config.redis.prefix, 'ordered', gateSettings(config));
  const batch = { first: entries[0]!.entryId, last: entries.at(-1)!.entryId };
  const own = { shard: 0, watermark: watermarkPosition(await readWatermark(redis.inspector, stream, [batch]), 0) };
  const members = entries.map((entry) => ({ key: keyName('k1'), position: entryPosition(entry.entryId, 0), jobId: entry.data!.callbackId }));
  expect((await gate.enter(members, own)).statuses).toEqual(['released', ...members.slice(1).map(() => 'held')]);
  return { stream, gate, entries: entries.map((entry, index) => ({ data: { ...entry.data!, order: { key: members[index]!.key, at: members[index]!.position } } })) };
}

async function workerRole(config: RelayConfig) {
  const workers = await startWorkers(config, { logger: silentLogger });
  const relay = await deliveryHarness(config);
  redis.cleanup(async () => {
    await workers.close();
    await relay.close();
  });
  return relay;
}

const seqsOf = (server: RecordingTarget, key: string) => server.attempts.filter((attempt) => attempt.key === key).map((attempt) => attempt.seq);

describe('a key\'s callbacks in one batch', () => {
  it('are attempted by the router one after another, each once the one before was delivered: no job at all', async () => {
    const server = await recordingTarget(redis, () => ({ status: 200, delayMs: 5 }));
    const config = orderedConfig(server);
    // One batch: k1 x 5 and k2 x 3, interleaved.
    await storeKeyed(config, [['k1', 1], ['k1', 2], ['k2', 1], ['k1', 3], ['k2', 2], ['k1', 4], ['k2', 3], ['k1', 5]]);
    const relay = await workerRole(config);

    await allDelivered(server, ['k1'], 5);
    await allDelivered(server, ['k2'], 3);
    expect(orderViolations(server.attempts)).toEqual([]);
    expect(seqsOf(server, 'k1')).toEqual([1, 2, 3, 4, 5]);
    expect(seqsOf(server, 'k2')).toEqual([1, 2, 3]);
    // All by the router: recorded as such, and not one job was queued.
    await expect.poll(async () => (await recentDeliveries(redis.inspector, config.redis.prefix, 'ordered', 20)).length).toBe(8);
    expect((await recentDeliveries(redis.inspector, config.redis.prefix, 'ordered', 20)).every((entry) => entry.by === 'router' && entry.attempt === 1)).toBe(true);
    expect(await relay.queue('ordered').getJobCounts('waiting', 'delayed', 'active', 'completed', 'failed')).toEqual({ waiting: 0, delayed: 0, active: 0, completed: 0, failed: 0 });
  });

  it('stop at a link that fails: it retries as a job and the rest wait behind it as held jobs, still in order', async () => {
    const server = await recordingTarget(redis, (_key, seq, attempt) => ({ status: seq === 3 && attempt === 1 ? 500 : 200 }));
    const config = orderedConfig(server);
    const ids = await storeKeyed(config, [1, 2, 3, 4, 5].map((seq) => ['k1', seq] as const));
    const relay = await workerRole(config);

    await allDelivered(server, ['k1'], 5, 15_000);
    expect(orderViolations(server.attempts)).toEqual([]);
    expect(seqsOf(server, 'k1')).toEqual([1, 2, 3, 3, 4, 5]);
    const record = await recentDeliveries(redis.inspector, config.redis.prefix, 'ordered', 20);
    const by = new Map(record.map((entry) => [entry.callbackId, entry.by]));
    // 1 and 2 by the router's chain; 3's retry and everything behind it by the worker.
    expect(ids.map((id) => by.get(id))).toEqual(['router', 'router', 'worker', 'worker', 'worker']);
    await expect.poll(() => relay.queue('ordered').getJobCounts('delayed', 'waiting')).toEqual({ delayed: 0, waiting: 0 });
  });

  it('go on from the released one after a router died between a link\'s finish and the next attempt: nothing twice, in order, through jobs', async () => {
    const server = await recordingTarget(redis, () => ({ status: 200 }));
    const config = orderedConfig(server, { claimAfter: 500 });
    const ids = await storeKeyed(config, [1, 2, 3, 4].map((seq) => ['k1', seq] as const));
    // A router read the batch, entered it, delivered seq 1 and finished it in the gate (seq 2 now
    // released), then died before attempting seq 2: the batch stays pending in the intake.
    const { stream, gate } = await deadRouterEntered(config, ids);
    expect(await gate.finish(keyName('k1'), ids[0]!, 'delivered')).toBe(ids[1]);

    const relay = await workerRole(config);
    await expect.poll(() => server.attempts.map((attempt) => attempt.seq), { timeout: 10_000 }).toEqual([2, 3, 4]);
    expect(orderViolations(server.attempts, new Set(['k1#1']))).toEqual([]);
    // A batch taken over may have jobs already (its router may have queued a head's retry, held
    // ones): the router attempts none of its ordered deliveries, they go through their jobs.
    await expect.poll(async () => (await recentDeliveries(redis.inspector, config.redis.prefix, 'ordered', 20)).length).toBe(3);
    const by = new Map((await recentDeliveries(redis.inspector, config.redis.prefix, 'ordered', 20)).map((entry) => [entry.callbackId, entry.by]));
    expect(ids.slice(1).map((id) => by.get(id))).toEqual(['worker', 'worker', 'worker']);
    expect(await redis.inspector.xlen(stream)).toBe(0);
    await expect.poll(() => gate.stats()).toEqual({ keys: 0, heldKeys: 0, held: 0 });
    expect(await relay.queue('ordered').getJobCounts('waiting', 'delayed')).toEqual({ waiting: 0, delayed: 0 });
  });

  it('taken over from a router whose head\'s first attempt failed: the head\'s retry job delivers it, never a second attempt that would overtake it', async () => {
    const server = await recordingTarget(redis, () => ({ status: 200 }));
    const config = orderedConfig(server, { claimAfter: 500 });
    const ids = await storeKeyed(config, [1, 2].map((seq) => ['k1', seq] as const));
    // The dead router's first attempt of seq 1 failed: it queued seq 1's retry and seq 2 held, and
    // admitted seq 1 as retrying, then died before acknowledging the batch.
    const { gate, entries } = await deadRouterEntered(config, ids);
    const relay = await deliveryHarness(config);
    redis.cleanup(() => relay.close());
    const target = config.targets[0]!;
    await relay.queue('ordered').add('mix_stop', afterFailedAttempt(entries[0]!.data, 1), { ...deliveryJobOptions(target, config.retention, ids[0]), delay: 1_500 });
    await relay.queue('ordered').add('mix_stop', entries[1]!.data, { ...deliveryJobOptions(target, config.retention, ids[1]), delay: HELD_DELAY_MS });
    expect(await gate.admit(keyName('k1'), ids[0]!)).toBe('go');

    await workerRole(config);
    await expect.poll(() => server.attempts.map((attempt) => attempt.seq), { timeout: 10_000 }).toEqual([1, 2]);
    // Nothing more comes: seq 1 is not delivered again after seq 2.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(server.attempts.map((attempt) => attempt.seq)).toEqual([1, 2]);
    expect(orderViolations(server.attempts)).toEqual([]);
  });
});
