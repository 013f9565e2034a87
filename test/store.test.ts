import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../src/ops/logger.js';
import { CallbackStore, type CallbackToStore } from '../src/store/callback-store.js';
import { deliveryQueueName, markerKeys } from '../src/store/queues.js';
import { checkRedisSettings } from '../src/store/redis-check.js';
import { sharedRedis, startRedisServer } from './helpers/redis.js';
import { APP_ID, testConfig } from './helpers/zego.js';

let redisUrl: string;
let stopRedis: () => Promise<void>;
let inspector: Redis;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  ({ url: redisUrl, stop: stopRedis } = await sharedRedis());
  inspector = new Redis(redisUrl);
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(async () => {
  inspector.disconnect();
  await stopRedis();
});

function openStore() {
  const config = testConfig({ redisUrl });
  const store = CallbackStore.open(config, silentLogger);
  cleanups.push(() => store.close());
  const queue = new Queue(deliveryQueueName('billing'), { connection: inspector, prefix: config.redis.prefix });
  cleanups.push(() => queue.close());
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
    expect(await inspector.exists(markerKeys.seen(config.redis.prefix, forged.callbackId))).toBe(0);
    expect(await queue.getJobCountByTypes('wait')).toBe(1);
  });

  it('never leaves a callback marked seen without its job, even when Redis forgets the scripts (SCRIPT FLUSH)', async () => {
    const { store, queue, config } = openStore();
    expect(await store.store(callback())).toBe('stored');
    await inspector.script('FLUSH');
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
      expect(await inspector.exists(seenKey)).toBe(0);
      expect(await store.store({ ...next })).toBe('stored');
    }
    expect((await queue.getJob(next.callbackId))?.data.callbackId).toBe(next.callbackId);
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
    const redis = new Redis(server.url);
    cleanups.push(async () => {
      redis.disconnect();
      await server.stop();
    });
    await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
    const { logger, warnings } = capturingLogger();
    const report = await checkRedisSettings(redis, logger);
    expect(report).toMatchObject({ maxmemoryPolicy: 'allkeys-lru', appendonly: 'no' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings()).toEqual([expect.stringMatching(/maxmemory-policy is "allkeys-lru"/), expect.stringMatching(/AOF is off/)]);
  });

  it('is quiet about a safe Redis, and does not throw when Redis cannot answer', async () => {
    const server = await startRedisServer({ appendfsync: 'everysec' });
    const redis = new Redis(server.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    redis.on('error', () => {});
    cleanups.push(async () => {
      redis.disconnect();
      await server.stop();
    });
    const { logger, warnings } = capturingLogger();
    expect((await checkRedisSettings(redis, logger)).warnings).toEqual([]);
    await server.kill();
    expect((await checkRedisSettings(redis, logger)).warnings).toEqual([]);
    expect(warnings()).toEqual([]);
  });
});
