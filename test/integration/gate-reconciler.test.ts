/**
 * The key gate's reconciler against a real Redis and real BullMQ queues: it mends what a process
 * dying between two steps of ordered delivery leaves (docs/RELIABILITY.md, "Ordered delivery per key").
 */
import { randomUUID } from 'node:crypto';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { startGateReconciler } from '../../workers/deliver/gate-reconciler.js';
import { HELD_DELAY_MS, KeyGate } from '../../src/targets/key-gate.js';
import { entryPosition, watermarkPosition } from '../../src/targets/order-position.js';
import { silentLogger } from '../../src/lib/logger.js';
import { intakeKeys, queuePrefix } from '../../src/shared/names.js';
import { useTestRedis } from '../helpers/redis.js';

const redis = useTestRedis();

/** A gate whose heads are due at once, its target's queue, and a reconciler turning every 100 ms. */
async function fixture() {
  const prefix = `reconcile-${randomUUID()}`;
  const gate = new KeyGate(redis.inspector, prefix, 'rooms', { shards: 1, graceMs: 0, lastTtlMs: 3_600_000, deadTtlMs: 3_600_000 });
  const queue = new Queue('deliver-rooms', { connection: redis.inspector, prefix: queuePrefix(prefix, 'deliver-rooms') });
  const reconciler = startGateReconciler({ gate, queue, connection: redis.inspector, prefix, intervalMs: 100, log: silentLogger });
  redis.cleanup(async () => {
    await reconciler.stop();
    await queue.obliterate({ force: true });
    await queue.close();
  });
  /** Enters entries `ms-0` as deliveries of key `a`, jobs a<ms>, held as delayed jobs. */
  const enter = async (...entries: number[]) => {
    for (const ms of entries) await queue.add('mix_stop', { n: ms }, { jobId: `a${ms}`, delay: HELD_DELAY_MS });
    await gate.enter(entries.map((ms) => ({ key: 'a', position: entryPosition(`${ms}-0`, 0), jobId: `a${ms}` })));
  };
  /** The router acknowledged everything up to entry `ms`: returns what that released, not promoted (a crash). */
  const routedUpTo = (ms: number) => gate.advance(0, watermarkPosition({ kind: 'first', entryId: `${ms}-0` }, 0));
  return { prefix, gate, queue, enter, routedUpTo };
}

/** A bare BullMQ worker on `queue`: it does its job and nothing of the relay's (no finish in the gate). */
function workerOptions(queue: Queue) {
  const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  redis.cleanup(async () => connection.disconnect());
  return { connection, prefix: queue.opts.prefix! };
}

describe('the key gate reconciler', () => {
  it('promotes a released delivery whose promote was lost', async () => {
    const { queue, enter, routedUpTo } = await fixture();
    await enter(1, 2);
    expect(await routedUpTo(10)).toEqual(['a1']);
    await expect.poll(() => queue.getJobState('a1')).toBe('waiting');
    expect(await queue.getJobState('a2')).toBe('delayed');
  });

  it('releases the key of a delivery completed by a worker that died before releasing it, and promotes the next', async () => {
    const { gate, queue, enter, routedUpTo } = await fixture();
    await enter(1, 2);
    await routedUpTo(10);
    // A worker that admits and delivers, then dies before finishing in the gate.
    const worker = new Worker('deliver-rooms', async (job) => void (await gate.admit('a', job.id!)), workerOptions(queue));
    redis.cleanup(() => worker.close());
    await expect.poll(() => queue.getJobState('a1')).toBe('completed');
    await expect.poll(() => queue.getJobState('a2'), { timeout: 5_000 }).not.toBe('delayed');
    expect(await gate.isHead('a', 'a2')).toBe(true);
  });

  it('releases the key of a dead letter the same way, and parks it for a replay', async () => {
    const { gate, queue, enter, routedUpTo } = await fixture();
    await enter(1, 2);
    await routedUpTo(10);
    await queue.getJob('a1').then((job) => job!.promote());
    const worker = new Worker('deliver-rooms', async () => {
      throw new Error('gone');
    }, workerOptions(queue));
    redis.cleanup(() => worker.close());
    await expect.poll(() => queue.getJobState('a1')).toBe('failed');
    await expect.poll(() => gate.isHead('a', 'a2'), { timeout: 5_000 }).toBe(true);
    expect((await gate.parked('a')).map((entry) => entry.jobId)).toEqual(['a1']);
  });

  it('waits for a released delivery whose job is not queued yet while its intake entry is there, and releases its key once the entry is gone', async () => {
    const { prefix, gate, queue } = await fixture();
    const stream = intakeKeys(prefix, 0).stream;
    const entryId = await redis.inspector.xadd(stream, '*', 'id', 'cb');
    // Entered and released (a router about to queue its job, or one that died before it did).
    await gate.enter([{ key: 'a', position: entryPosition(entryId!, 0), jobId: 'a1' }], { shard: 0, watermark: watermarkPosition({ kind: 'after', lastEntryId: entryId!, clockMs: 0 }, 0) });
    // The reconciler looked at it (it moved the head's next look) and left it as it was.
    const released = Number(await redis.inspector.zscore(`${gate.base}:check`, 'a'));
    await expect.poll(async () => Number(await redis.inspector.zscore(`${gate.base}:check`, 'a'))).toBeGreaterThan(released);
    expect(await gate.isHead('a', 'a1')).toBe(true);
    expect(await queue.getJobState('a1')).toBe('unknown');
    // Its entry was routed (deleted) and no job ever came: the key must not stay held.
    await redis.inspector.xdel(stream, entryId!);
    await expect.poll(() => gate.stats()).toEqual({ keys: 0, heldKeys: 0, held: 0 });
  });
});
