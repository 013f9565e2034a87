import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { RelayConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/lib/logger.js';
import { CallbackStore, type CallbackToStore } from '../../src/intake/callback-store.js';
import { intakeKeys, replayKey } from '../../src/shared/names.js';
import { createProducerConnection } from '../../src/redis/connection.js';
import { checkRedisSettings } from '../../src/redis/check.js';
import { startRedisServer, useTestRedis } from '../helpers/redis.js';
import { APP_ID, testConfig } from '../helpers/config.js';

const redis = useTestRedis();

/**
 * How a callback is stored: one call of INTAKE on one Redis or Sentinel, or, on a Redis Cluster,
 * BIND_NONCE then APPEND (callback-store.ts says why that order is safe). The cluster's protocol
 * runs here on one Redis, with a configuration that says cluster: what it decides does not depend
 * on where its keys live (test/cluster/ runs it on real clusters).
 */
type Protocol = 'one call' | 'two calls';

/** A store on `config`'s one Redis that stores by `protocol` (a cluster's: told its Redis is one). */
function storeBy(protocol: Protocol, config: RelayConfig): CallbackStore {
  if (protocol === 'one call') return CallbackStore.open(config, silentLogger);
  const clusterShaped = { ...config, redis: { ...config.redis, topology: { kind: 'cluster' as const, nodes: [{ host: '127.0.0.1', port: 1 }] } } };
  return new CallbackStore(clusterShaped, createProducerConnection(config.redis, 'receiver'), silentLogger);
}

function openStore(protocol: Protocol) {
  const config = testConfig({ redisUrl: redis.url });
  const store = storeBy(protocol, config);
  redis.cleanup(() => store.close());
  const keys = intakeKeys(config.redis.prefix, 0);
  const intakeLength = () => redis.inspector.xlen(keys.stream);
  return { config, store, keys, intakeLength };
}

const seenKey = (config: RelayConfig, callbackId: string) => intakeKeys(config.redis.prefix, 0).seen(callbackId);

const callback = (overrides: Partial<CallbackToStore> = {}): CallbackToStore => ({
  callbackId: `cb_${randomUUID().replace(/-/g, '')}`,
  event: 'mix_stop',
  appId: APP_ID,
  replayKey: randomUUID(),
  body: '{"event":"mix_stop"}',
  ...overrides,
});

describe.each<Protocol>(['one call', 'two calls'])('CallbackStore, %s', (protocol) => {

  it('appends a new callback to the intake log with everything a router needs', async () => {
    const { store, keys } = openStore(protocol);
    const one = callback({ body: '{"event":"mix_stop","room_session_id":6085791336856668982}' });
    expect(await store.store(one, 1_700_000_000_123)).toBe('stored');
    const entries = (await redis.inspector.xrange(keys.stream, '-', '+')) as [string, string[]][];
    expect(entries).toHaveLength(1);
    const fields = entries[0]?.[1];
    expect(fields).toEqual(['id', one.callbackId, 'event', 'mix_stop', 'app', APP_ID, 'body', one.body, 'at', '1700000000123']);
  });

  it('stores once when two first sends of one callback race, and calls the later one a duplicate', async () => {
    const { store, intakeLength } = openStore(protocol);
    const one = callback();
    const outcomes = await Promise.all([store.store(one), store.store({ ...one, replayKey: randomUUID() })]);
    expect(outcomes.sort()).toEqual(['duplicate', 'stored']);
    expect(await intakeLength()).toBe(1);
    expect(await store.store({ ...one, replayKey: randomUUID() })).toBe('duplicate');
  });

  it('reports a nonce reused by another callback as replayed and writes nothing for it', async () => {
    const { store, config, intakeLength } = openStore(protocol);
    const first = callback();
    expect(await store.store(first)).toBe('stored');
    const forged = callback({ replayKey: first.replayKey });
    expect(await store.store(forged)).toBe('replayed');
    expect(await redis.inspector.exists(seenKey(config, forged.callbackId))).toBe(0);
    expect(await intakeLength()).toBe(1);
  });

  it('binds a nonce across apps: a triple captured from one app is refused for another', async () => {
    const { store, intakeLength } = openStore(protocol);
    const first = callback({ appId: '111111' });
    expect(await store.store(first)).toBe('stored');
    expect(await store.store(callback({ appId: '222222', replayKey: first.replayKey }))).toBe('replayed');
    expect(await intakeLength()).toBe(1);
  });

  it('keeps storing after Redis forgot its scripts (SCRIPT FLUSH)', async () => {
    const { store, intakeLength } = openStore(protocol);
    expect(await store.store(callback())).toBe('stored');
    await redis.inspector.script('FLUSH');
    expect(await store.store(callback())).toBe('stored');
    expect(await intakeLength()).toBe(2);
  });

  it('never reports stored when the append fails, and leaves nothing that would make the retry a duplicate', async () => {
    const { store, config, keys } = openStore(protocol);
    // A key of the wrong type where the intake stream belongs makes the XADD fail inside the script.
    await redis.inspector.set(keys.stream, 'not a stream');
    const one = callback();
    await expect(store.store(one)).rejects.toMatchObject({ name: 'UnavailableError' });
    expect(await redis.inspector.exists(seenKey(config, one.callbackId))).toBe(0);
    await redis.inspector.del(keys.stream);
    // ZEGO's retry (a fresh nonce) is stored, not answered as a duplicate.
    expect(await store.store({ ...one, replayKey: randomUUID() })).toBe('stored');
  });
});

describe('CallbackStore: the Redis commands a callback costs', () => {
  /** Calls of each command so far, as Redis counts them (scripts' own calls included). */
  async function commandCalls(inspector: Redis): Promise<Record<string, number>> {
    const text = await inspector.info('commandstats');
    return Object.fromEntries([...text.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)].map(([, name, calls]) => [name!, Number(calls)]));
  }

  async function privateRedis() {
    const server = await startRedisServer();
    const inspector = new Redis(server.url);
    redis.cleanup(async () => {
      inspector.disconnect();
      await server.stop();
    });
    return { url: server.url, inspector };
  }

  /** The store on a private Redis, its scripts loaded; `storeAndCount` stores and says which commands ran how often. */
  async function measured(options: { protocol: Protocol; waitReplicas?: number }) {
    const { url, inspector } = await privateRedis();
    const config = testConfig({ redis: { url, waitReplicas: options.waitReplicas ?? 0 } });
    const store = storeBy(options.protocol, config);
    redis.cleanup(() => store.close());
    // Loads the scripts (EVALSHA, NOSCRIPT, EVAL) before anything is counted; without a replica
    // to confirm it, a store that waits for replicas answers unavailable.
    await store.store(callback()).catch(() => undefined);
    await inspector.config('RESETSTAT');
    return {
      async storeAndCount(one: CallbackToStore) {
        const before = await commandCalls(inspector);
        const outcome = await store.store(one).catch((error: Error) => error.name);
        const after = await commandCalls(inspector);
        const delta = Object.fromEntries(Object.entries(after).map(([name, calls]) => [name, calls - (before[name] ?? 0)]).filter(([name, calls]) => calls !== 0 && !['info', 'config|resetstat'].includes(name as string)));
        return { outcome, delta };
      },
    };
  }

  it('one script call per callback on one Redis, two (nonce, then append) on a cluster', async () => {
    const single = await measured({ protocol: 'one call' });
    const first = await single.storeAndCount(callback());
    expect(first.delta).toMatchObject({ evalsha: 1 });
    // Not waiting for replicas: no WAIT either.
    expect(first.delta.wait ?? 0).toBe(0);
    expect((await single.storeAndCount(callback())).delta.evalsha).toBe(1);
    const cluster = await measured({ protocol: 'two calls' });
    expect((await cluster.storeAndCount(callback())).delta.evalsha).toBe(2);
  });

  it('a duplicate writes nothing, unless the receiver waits for replicas: then it renews its marker for WAIT to count', async () => {
    const plain = await measured({ protocol: 'one call' });
    const one = callback();
    expect((await plain.storeAndCount(one)).outcome).toBe('stored');
    const duplicate = await plain.storeAndCount({ ...one, replayKey: randomUUID() });
    expect(duplicate.outcome).toBe('duplicate');
    expect(duplicate.delta.pexpiretime ?? 0).toBe(0);
    expect(duplicate.delta.pexpireat ?? 0).toBe(0);

    // No replica here: WAIT cannot be satisfied, the answer is 503, but the script ran first.
    const waiting = await measured({ protocol: 'one call', waitReplicas: 1 });
    const two = callback();
    expect((await waiting.storeAndCount(two)).outcome).toBe('UnavailableError');
    const renewed = await waiting.storeAndCount({ ...two, replayKey: randomUUID() });
    expect(renewed.outcome).toBe('UnavailableError');
    expect(renewed.delta).toMatchObject({ pexpiretime: 1, pexpireat: 1, wait: 1 });
  });

  it('waiting for replicas: a replayed nonce is refused at once, with no WAIT (nothing was written)', async () => {
    const waiting = await measured({ protocol: 'one call', waitReplicas: 1 });
    const one = callback();
    expect((await waiting.storeAndCount(one)).outcome).toBe('UnavailableError');
    const replayed = await waiting.storeAndCount(callback({ replayKey: one.replayKey }));
    expect(replayed.outcome).toBe('replayed');
    expect(replayed.delta.wait ?? 0).toBe(0);
  });
});

describe('CallbackStore waiting for a replica that is not there', () => {
  it('waits one second for it, within the 1.5 s deadline, and says so in the 503\'s cause', async () => {
    const config = testConfig({ redis: { url: redis.url, waitReplicas: 1 } });
    const store = CallbackStore.open(config, silentLogger);
    redis.cleanup(() => store.close());
    const started = Date.now();
    const error = (await store.store(callback()).catch((caught: unknown) => caught)) as Error & { cause?: Error };
    expect(error.name).toBe('UnavailableError');
    expect(error.cause?.message).toBe('0 of 1 replica(s) acknowledged the write within 1000 ms');
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });
});

describe('CallbackStore, two calls', () => {
  it('leaves the nonce bound and nothing stored when the append fails; the retry with the same nonce is stored', async () => {
    const { store, config, keys, intakeLength } = openStore('two calls');
    await redis.inspector.set(keys.stream, 'not a stream');
    const one = callback();
    await expect(store.store(one)).rejects.toMatchObject({ name: 'UnavailableError' });
    expect(await redis.inspector.get(replayKey(config.redis.prefix, one.replayKey))).toBe(one.callbackId);
    expect(await redis.inspector.exists(seenKey(config, one.callbackId))).toBe(0);
    await redis.inspector.del(keys.stream);
    expect(await store.store(one)).toBe('stored');
    expect(await intakeLength()).toBe(1);
    // Bound to this callback: another body under the same nonce is still refused.
    expect(await store.store(callback({ replayKey: one.replayKey }))).toBe('replayed');
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
    // The connection's listener count is the leak this test is about.
    const writer = store.connection;
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
    const seen = await Promise.all(refused.map((one) => inspector.exists(seenKey(config, one.callbackId))));
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
