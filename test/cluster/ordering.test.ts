/**
 * Ordered delivery on a Redis Cluster: 3 masters, 6 intake shards spread over them, two receivers
 * and two worker roles. Each ordered target's key gate lives on its queue's node (one hash tag), the
 * watermarks come from every shard's node: each key's callbacks reach the target one at a time, in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/lib/logger.js';
import { startReceiver, type ReceiverHandle } from '../../src/receive/server.js';
import { startWorkers, type WorkersHandle } from '../../workers/role.js';
import { startRedisCluster, type RedisClusterHandle } from '../../bench/lib/redis-topologies.js';
import { testConfig } from '../helpers/config.js';
import { allDelivered, orderViolations, recordingTarget, sendKeyed, unreliable, type RecordingTarget } from '../helpers/ordering.js';
import type { TestRedis } from '../helpers/redis.js';

let cluster: RedisClusterHandle;
let target: RecordingTarget;
let config: RelayConfig;
const receivers: ReceiverHandle[] = [];
const workers: WorkersHandle[] = [];
const cleanups: (() => Promise<unknown>)[] = [];
/** recordingTarget's cleanup registry, outside useTestRedis (the cluster is this file's Redis). */
const registry = { cleanup: (step: () => Promise<unknown>) => cleanups.push(step) } as unknown as TestRedis;

beforeAll(async () => {
  cluster = await startRedisCluster({ replicasPerMaster: 0 });
  target = await recordingTarget(registry, unreliable(0.3, 20));
  config = testConfig({
    redis: { cluster: { nodes: [cluster.urls[0]!] } },
    intake: { shards: 6, batchSize: 10 },
    targets: [{
      name: 'rooms', events: ['*'], url: target.server.url, breaker: false, ordering: { key: ['task_id'] },
      retry: { schedule: [50, 100, 150, 200, 250, 300, 300, 300, 300, 300, 300, 300], jitter: 0.2 },
    }],
  });
  for (let index = 0; index < 2; index += 1) {
    receivers.push(await startReceiver(config, { logger: silentLogger }));
    workers.push(await startWorkers(config, { logger: silentLogger }));
  }
});

afterAll(async () => {
  await Promise.allSettled([...receivers.map((receiver) => receiver.close()), ...workers.map((worker) => worker.close())]);
  for (const step of cleanups.reverse()) await step();
  await cluster?.stop();
});

describe('ordered delivery on a Redis Cluster', () => {
  it("delivers each key's callbacks one at a time in order, sent alternately through two receivers", async () => {
    const keys = Array.from({ length: 10 }, (_unused, index) => `cluster-${index}`);
    await Promise.all(
      keys.map(async (key) => {
        for (let seq = 1; seq <= 10; seq += 1) {
          // A few milliseconds apart: with several shards the order is by the millisecond of acknowledgement.
          await new Promise((resolve) => setTimeout(resolve, 3));
          await sendKeyed(`http://127.0.0.1:${receivers[seq % 2]!.port}${config.server.callbackPath}`, key, seq);
        }
      }),
    );
    await allDelivered(target, keys, 10);
    expect(orderViolations(target.attempts)).toEqual([]);
  });
});
