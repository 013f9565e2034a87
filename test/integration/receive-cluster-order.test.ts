/**
 * On a Redis Cluster the receiver stores a callback in two calls: the signature's binding first,
 * then the append (callback-store.ts says why that order is safe). That order is what keeps a
 * forged body under a captured signature from being stored and delivered while its sender is
 * answered 401. Here the cluster's protocol runs end to end against one Redis: the receiver's HTTP
 * app with a store told its Redis is a cluster (the same two real scripts, one Redis call each),
 * the worker role (router and delivery) and a real target. test/cluster/two-relays.test.ts checks
 * the same on a real cluster.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { startWorkers } from '../../workers/role.js';
import type { RelayConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/lib/logger.js';
import { createReceiverApp } from '../../src/receive/app.js';
import { CallbackStore } from '../../src/intake/callback-store.js';
import { APPEND, BIND_NONCE, INTAKE } from '../../src/intake/script.js';
import { queueOptions } from '../../src/redis/queues.js';
import { deliveryQueueName, type DeliveryJobData } from '../../src/shared/names.js';
import { createProducerConnection } from '../../src/redis/connection.js';
import { testConfig } from '../helpers/config.js';
import { useTestRedis } from '../helpers/redis.js';
import { ok, startTargetServer } from '../helpers/targets.js';
import { jsonBody, mixStopFields, sign } from '../helpers/zego.js';

const redis = useTestRedis();

/** Which of the receiver's scripts Redis has loaded: run at least once. */
async function scriptsRun(inspector: Redis): Promise<Record<string, boolean>> {
  const scripts = { INTAKE, BIND_NONCE, APPEND };
  const sha = (lua: string) => createHash('sha1').update(lua).digest('hex');
  const exists = (await inspector.script('EXISTS', ...Object.values(scripts).map((script) => sha(script.lua)))) as number[];
  return Object.fromEntries(Object.keys(scripts).map((name, index) => [name, exists[index] === 1]));
}

/** The receiver's app with the cluster's two-call store, listening on 127.0.0.1. */
async function clusterShapedReceiver(config: RelayConfig) {
  const clusterShaped = { ...config, redis: { ...config.redis, topology: { kind: 'cluster' as const, nodes: [{ host: '127.0.0.1', port: 1 }] } } };
  const store = new CallbackStore(clusterShaped, createProducerConnection(config.redis, 'receiver'), silentLogger);
  const server = createServer(createReceiverApp({ config, store, redis: store.connection, logger: silentLogger }).callback());
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  redis.cleanup(async () => {
    await new Promise((resolve) => server.close(resolve));
    await store.close();
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/zego/callback`;
  return async (body: string) => {
    const response = await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    return { status: response.status, body: (await response.json()) as { error?: { code: string } } };
  };
}

describe('the cluster\'s two-call store, nonce bound before the append', () => {
  it('answers a forged body under a captured signature 401 and stores, queues and delivers nothing of it', async () => {
    const target = await startTargetServer(ok);
    redis.cleanup(() => target.close());
    // Every delivery a job (no first attempt by the router), so the queue shows all that was routed.
    const config = testConfig({ redisUrl: redis.url, targets: [{ name: 'billing', url: target.url, directFirstAttempt: false }] });
    const post = await clusterShapedReceiver(config);
    const workers = await startWorkers(config, { logger: silentLogger });
    redis.cleanup(() => workers.close());

    const genuine = sign(mixStopFields());
    await redis.inspector.script('FLUSH');
    expect((await post(jsonBody(genuine))).status).toBe(200);
    // The cluster's protocol ran (its two scripts), not the one-call script.
    expect(await scriptsRun(redis.inspector)).toEqual({ INTAKE: false, BIND_NONCE: true, APPEND: true });

    const forged = { ...mixStopFields({ task_id: 'forged-task' }), timestamp: genuine.timestamp!, nonce: genuine.nonce!, signature: genuine.signature! };
    expect(await post(jsonBody(forged))).toEqual({ status: 401, body: { ok: false, error: { code: 'replayed_nonce', message: expect.any(String) } } });

    // A callback after it: once it is delivered, anything stored before it has been routed too.
    const later = sign(mixStopFields());
    expect((await post(jsonBody(later))).status).toBe(200);
    const delivered = () => target.requests.map((request) => (JSON.parse(request.body.toString('utf8')) as { task_id: string }).task_id);
    await expect.poll(delivered, { timeout: 15_000 }).toContain(later.task_id);

    expect(delivered().sort()).toEqual([genuine.task_id, later.task_id].sort());
    const queue = new Queue<DeliveryJobData>(deliveryQueueName('billing'), queueOptions(config, deliveryQueueName('billing'), redis.inspector));
    redis.cleanup(() => queue.close());
    const jobs = await queue.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized']);
    expect(jobs.map((job) => (JSON.parse(job.data.body) as { task_id: string }).task_id).sort()).toEqual([genuine.task_id, later.task_id].sort());
    const seen = await redis.inspector.keys(`{${config.redis.prefix}:intake:*}:seen:*`);
    expect(seen).toHaveLength(2);
  });
});
