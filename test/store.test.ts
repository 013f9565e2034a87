import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../src/ops/logger.js';
import { CallbackStore, type CallbackToStore } from '../src/store/callback-store.js';
import { deliveryQueueName, markerKeys } from '../src/store/queues.js';
import { checkRedisSettings } from '../src/store/redis-check.js';
import { startRedisServer, useTestRedis } from './helpers/redis.js';
import { APP_ID, testConfig } from './helpers/zego.js';

const redis = useTestRedis();

function openStore() {
  const config = testConfig({ redisUrl: redis.url });
  const store = CallbackStore.open(config, silentLogger);
  redis.cleanup(() => store.close());
  const queue = new Queue(deliveryQueueName('billing'), { connection: redis.inspector, prefix: config.redis.prefix });
  redis.cleanup(() => queue.close());
  return { config, store, queue };
}

const callback = (overrides: Partial<CallbackToStore> = {}): CallbackToStore => ({
  callbackId: `cb_${randomUUID().replace(/-/g, '')}`,
  event: 'mix_stop',
  appId: APP_ID,
  nonce: randomUUID(),
  body: '{"event":"mix_stop"}',
  ...overrides,
});

describe('CallbackStore', () => {
  it('stores once when two first sends of one callback race, and calls the later one a duplicate', async () => {
    const { store, queue } = openStore();
    const one = callback();
    const outcomes = await Promise.all([store.store(one), store.store({ ...one, nonce: randomUUID() })]);
    expect(outcomes.every((outcome) => outcome === 'stored' || outcome === 'duplicate')).toBe(true);
    expect(await queue.getJobCountByTypes('wait')).toBe(1);
    expect(await store.store({ ...one, nonce: randomUUID() })).toBe('duplicate');
  });

  it('reports a nonce reused by another callback as replayed and writes nothing for it', async () => {
    const { store, queue, config } = openStore();
    const first = callback();
    expect(await store.store(first)).toBe('stored');
    const forged = callback({ nonce: first.nonce });
    expect(await store.store(forged)).toBe('replayed');
    expect(await redis.inspector.exists(markerKeys.seen(config.redis.prefix, forged.callbackId))).toBe(0);
    expect(await queue.getJobCountByTypes('wait')).toBe(1);
  });

  it('never leaves a callback marked seen without its job, even when Redis forgets the scripts (SCRIPT FLUSH)', async () => {
    const { store, queue, config } = openStore();
    expect(await store.store(callback())).toBe('stored');
    await redis.inspector.script('FLUSH');
    const next = callback();
    const seenKey = markerKeys.seen(config.redis.prefix, next.callbackId);
    let outcome: string;
    try {
      outcome = await store.store(next);
    } catch (error) {
      outcome = (error as Error).name;
    }
    // Either it was stored, or it was refused (503) and nothing marks it seen, so ZEGO's retry stores it.
    if (outcome === 'stored') expect(await queue.getJob(next.callbackId)).toBeDefined();
    else {
      expect(outcome).toBe('UnavailableError');
      expect(await redis.inspector.exists(seenKey)).toBe(0);
      expect(await store.store({ ...next })).toBe('stored');
    }
    expect((await queue.getJob(next.callbackId))?.data.callbackId).toBe(next.callbackId);
  });
});

describe('CallbackStore during a Redis outage', () => {
  it('answers each store unavailable within the deadline, keeps no listener per request, and writes none of them later', async () => {
    const server = await startRedisServer();
    const config = testConfig({ redisUrl: server.url });
    const store = CallbackStore.open(config, silentLogger);
    redis.cleanup(async () => {
      await store.close();
      await server.stop();
    });
    expect(await store.store(callback())).toBe('stored');
    // The writer is private; its listener count is the leak this test is about.
    const writer = (store as unknown as { writer: Redis }).writer;
    const baseline = writer.listenerCount('ready');
    await server.kill();
    // Let the writer notice, so the stores below wait for it to reconnect (the path that leaked).
    const noticed = Date.now() + 2_000;
    while (writer.status === 'ready' && Date.now() < noticed) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(writer.status).not.toBe('ready');

    const refused = Array.from({ length: 30 }, () => callback());
    const started = Date.now();
    const outcomes = await Promise.allSettled(refused.map((one) => store.store(one)));
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(outcomes.every((outcome) => outcome.status === 'rejected' && (outcome.reason as Error).name === 'UnavailableError')).toBe(true);
    // ioredis may hold one 'ready' listener of its own while reconnecting; one per request is the leak.
    expect(writer.listenerCount('ready')).toBeLessThanOrEqual(baseline + 1);

    await server.restart();
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        expect(await store.store(callback())).toBe('stored');
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const inspector = new Redis(server.url);
    redis.cleanup(async () => inspector.disconnect());
    const seen = await Promise.all(refused.map((one) => inspector.exists(markerKeys.seen(config.redis.prefix, one.callbackId))));
    expect(seen.reduce((sum, exists) => sum + exists, 0)).toBe(0);
  });
});

describe('checkRedisSettings', () => {
  function capturingLogger() {
    const lines: { level: number; msg: string }[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string });
        done();
      },
    });
    return { logger: pino({ level: 'info' }, stream), warnings: () => lines.filter((line) => line.level === 40).map((line) => line.msg) };
  }

  it('warns about AOF off and an evicting maxmemory-policy, once each', async () => {
    const server = await startRedisServer();
    const client = new Redis(server.url);
    redis.cleanup(async () => {
      client.disconnect();
      await server.stop();
    });
    await client.config('SET', 'maxmemory-policy', 'allkeys-lru');
    const { logger, warnings } = capturingLogger();
    const report = await checkRedisSettings(client, logger);
    expect(report).toMatchObject({ maxmemoryPolicy: 'allkeys-lru', appendonly: 'no' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings()).toEqual([expect.stringMatching(/maxmemory-policy is "allkeys-lru"/), expect.stringMatching(/AOF is off/)]);
  });

  it('is quiet about a safe Redis, and does not throw when Redis cannot answer', async () => {
    const server = await startRedisServer({ appendfsync: 'everysec' });
    const client = new Redis(server.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    client.on('error', () => {});
    redis.cleanup(async () => {
      client.disconnect();
      await server.stop();
    });
    const { logger, warnings } = capturingLogger();
    expect((await checkRedisSettings(client, logger)).warnings).toEqual([]);
    await server.kill();
    expect((await checkRedisSettings(client, logger)).warnings).toEqual([]);
    expect(warnings()).toEqual([]);
  });
});
