/**
 * Two receivers and two routers (two worker roles) on one Redis Cluster, 6 intake shards: the same
 * callback sent to both receivers at once is stored once and delivered once; a nonce captured from
 * one receiver's traffic and replayed with another body through the other is refused, whichever
 * shard the forged callback's id falls on, and nothing of the forged body is stored, queued or
 * delivered (the signature is bound before the append: test/integration/receive-cluster-order.test.ts runs the
 * same order in npm test).
 */
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/lib/logger.js';
import { startReceiver, type ReceiverHandle } from '../../src/receive/server.js';
import { callbackId } from '../../src/receive/callback-id.js';
import { decodeBody } from '../../src/receive/payload.js';
import { validateCallback } from '../../src/receive/validate.js';
import { intakeKeys, shardOf, deliveryQueueName, type DeliveryJobData } from '../../src/shared/names.js';
import { intakePendingCount } from '../../src/intake/stats.js';
import { queueOptions } from '../../src/redis/queues.js';
import { createProducerConnection } from '../../src/redis/connection.js';
import { startWorkers, type WorkersHandle } from '../../workers/role.js';
import { startRedisCluster, type RedisClusterHandle } from '../../bench/lib/redis-topologies.js';
import { ok, startTargetServer, type TargetServer } from '../helpers/targets.js';
import { callbackKey } from '../helpers/zego-sender.js';
import { jsonBody, mixStopFields, sign } from '../helpers/zego.js';
import { testConfig } from '../helpers/config.js';

const SHARDS = 6;
let cluster: RedisClusterHandle;
let target: TargetServer;
let config: RelayConfig;
const receivers: ReceiverHandle[] = [];
const routers: WorkersHandle[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster({ replicasPerMaster: 0 });
  target = await startTargetServer(ok);
  config = testConfig({
    redis: { cluster: { nodes: [cluster.urls[0]!] } },
    intake: { shards: SHARDS },
    targets: [{ name: 'billing', events: ['*'], url: target.url }],
  });
  for (let index = 0; index < 2; index += 1) {
    receivers.push(await startReceiver(config, { logger: silentLogger }));
    routers.push(await startWorkers(config, { logger: silentLogger }));
  }
});

afterAll(async () => {
  await Promise.allSettled([...receivers.map((receiver) => receiver.close()), ...routers.map((router) => router.close())]);
  await target?.close();
  await cluster?.stop();
});

async function post(receiver: ReceiverHandle, body: string): Promise<{ status: number; id?: string; duplicate?: boolean; code?: string }> {
  const response = await fetch(`http://127.0.0.1:${receiver.port}/zego/callback`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  const answer = (await response.json()) as { id?: string; duplicate?: boolean; error?: { code: string } };
  return { status: response.status, ...(answer.id ? { id: answer.id, duplicate: answer.duplicate === true } : {}), ...(answer.error ? { code: answer.error.code } : {}) };
}

describe('two receivers and two routers on one cluster', () => {
  it('stores a callback sent to both receivers at once exactly once, and delivers it once', async () => {
    const bodies = Array.from({ length: 60 }, () => jsonBody(sign(mixStopFields())));
    const answers = await Promise.all(bodies.map((body) => Promise.all([post(receivers[0]!, body), post(receivers[1]!, body)])));
    const shards = new Set<number>();
    for (const pair of answers) {
      expect(pair.map((answer) => answer.status)).toEqual([200, 200]);
      expect(pair[0]!.id).toBe(pair[1]!.id);
      expect(pair.filter((answer) => answer.duplicate === false)).toHaveLength(1);
      shards.add(shardOf(pair[0]!.id!, SHARDS));
    }
    expect(shards.size).toBe(SHARDS);
    const keys = bodies.map((body) => callbackKey(body));
    await expect.poll(() => new Set(target.requests.map((request) => callbackKey(request.body))).size, { timeout: 20_000 }).toBe(keys.length);
    // Routed by two routers, delivered once each.
    expect(target.requests.filter((request) => keys.includes(callbackKey(request.body)))).toHaveLength(keys.length);
  });

  it('refuses a nonce replayed with another body through the other receiver, on whatever shard', async () => {
    let otherShard = 0;
    for (let index = 0; index < 30; index += 1) {
      const genuine = sign(mixStopFields());
      const first = await post(receivers[index % 2]!, jsonBody(genuine));
      expect(first.status).toBe(200);
      // Same timestamp, nonce and signature (ZEGO's signature covers no body field), forged body.
      const forged = { ...mixStopFields(), timestamp: genuine.timestamp!, nonce: genuine.nonce!, signature: genuine.signature! };
      const replay = await post(receivers[(index + 1) % 2]!, jsonBody(forged));
      expect(replay).toMatchObject({ status: 401, code: 'replayed_nonce' });
      // The forged callback's id (had it been stored) would mostly fall on another shard.
      const forgedAsNew = await post(receivers[(index + 1) % 2]!, jsonBody(sign({ ...forged })));
      if (shardOf(forgedAsNew.id!, SHARDS) !== shardOf(first.id!, SHARDS)) otherShard += 1;
    }
    expect(otherShard).toBeGreaterThan(10);
  });

  it('stores, queues and delivers nothing of a forged body under a replayed signature, whichever receiver and shard', async () => {
    const genuine: string[] = [];
    const forgedIds: string[] = [];
    for (let index = 0; index < 20; index += 1) {
      const captured = sign(mixStopFields());
      expect((await post(receivers[index % 2]!, jsonBody(captured))).status).toBe(200);
      genuine.push(captured.task_id as string);
      const forged = { ...mixStopFields({ task_id: `forged-${index}` }), timestamp: captured.timestamp!, nonce: captured.nonce!, signature: captured.signature! };
      expect(await post(receivers[(index + 1) % 2]!, jsonBody(forged))).toMatchObject({ status: 401, code: 'replayed_nonce' });
      forgedIds.push(callbackId(validateCallback(decodeBody(jsonBody(forged)), { allowUnknownEvents: true })));
    }
    // Everything stored is routed (the intake logs are empty) and delivered.
    const connection = createProducerConnection(config.redis, 'test-inspect');
    const queue = new Queue<DeliveryJobData>(deliveryQueueName('billing'), queueOptions(config, deliveryQueueName('billing'), connection));
    try {
      const taskIds = () => new Set(target.requests.map((request) => (JSON.parse(request.body.toString('utf8')) as { task_id: string }).task_id));
      await expect.poll(() => genuine.every((task) => taskIds().has(task)), { timeout: 20_000 }).toBe(true);
      await expect.poll(() => intakePendingCount(connection, config), { timeout: 20_000 }).toBe(0);
      await expect.poll(async () => queue.count(), { timeout: 20_000 }).toBe(0);
      expect([...taskIds()].filter((task) => task.startsWith('forged-'))).toEqual([]);
      for (const id of forgedIds) {
        expect(await connection.exists(intakeKeys(config.redis.prefix, shardOf(id, SHARDS)).seen(id)), id).toBe(0);
        expect(await queue.getJob(id), id).toBeUndefined();
      }
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });

  it('accepts exactly one of a genuine callback and a forgery racing with the same nonce', async () => {
    for (let index = 0; index < 20; index += 1) {
      const genuine = sign(mixStopFields());
      const forged = { ...mixStopFields(), timestamp: genuine.timestamp!, nonce: genuine.nonce!, signature: genuine.signature! };
      const answers = await Promise.all([post(receivers[0]!, jsonBody(genuine)), post(receivers[1]!, jsonBody(forged))]);
      expect(answers.map((answer) => answer.status).sort()).toEqual([200, 401]);
    }
  });
});
