/**
 * Redis outages: SIGKILL then restart, and SIGSTOP then SIGCONT. The receiver must answer 503
 * within 2 s while Redis is gone, never hang, and store again by itself when Redis is back.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/lib/logger.js';
import { startReceiver, type ReceiverHandle } from '../../src/receive/server.js';
import { startRedisServer, type RedisServer } from '../helpers/redis.js';
import { testConfig } from '../helpers/config.js';
import { jsonBody, mixStopFields, sign } from '../helpers/zego.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setUp(): Promise<{ redis: RedisServer; receiver: ReceiverHandle; post: () => Promise<{ status: number; ms: number; body: any }> }> {
  const redis = await startRedisServer({ appendfsync: 'everysec' });
  cleanups.push(() => redis.stop());
  const receiver = await startReceiver(testConfig({ redisUrl: redis.url }), { logger: createLogger('silent') });
  cleanups.push(() => receiver.close());
  const post = async () => {
    const started = Date.now();
    const response = await fetch(`http://127.0.0.1:${receiver.port}/zego/callback`, {
      method: 'POST',
      body: jsonBody(sign(mixStopFields())),
      headers: { 'content-type': 'application/json' },
      signal: AbortSignal.timeout(5_000),
    });
    return { status: response.status, ms: Date.now() - started, body: await response.json() };
  };
  return { redis, receiver, post };
}

/** Posts until a 200 (Redis is back and reconnected), within `withinMs`. */
async function eventuallyStored(post: () => Promise<{ status: number }>, withinMs: number): Promise<number> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const { status } = await post();
    if (status === 200 || Date.now() > deadline) return status;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('the receiver during a Redis outage', () => {
  it('answers 503 within 2 s while Redis is killed, and stores again after a restart without restarting itself', async () => {
    const { redis, post } = await setUp();
    expect((await post()).status).toBe(200);
    await redis.kill();
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const answer = await post();
      expect(answer.status).toBe(503);
      expect(answer.body.error.code).toBe('unavailable');
      expect(answer.ms).toBeLessThan(2_000);
    }
    await redis.restart();
    expect(await eventuallyStored(post, 10_000)).toBe(200);
  });

  it('answers 503 within 2 s while Redis is stalled (SIGSTOP), and stores again after SIGCONT', async () => {
    const { redis, post } = await setUp();
    expect((await post()).status).toBe(200);
    redis.pause();
    try {
      const answers = await Promise.all([post(), post(), post()]);
      for (const answer of answers) {
        expect(answer.status).toBe(503);
        expect(answer.ms).toBeLessThan(2_000);
      }
    } finally {
      redis.resume();
    }
    expect(await eventuallyStored(post, 10_000)).toBe(200);
  });

  it('starts while Redis is down, answers 503 and /readyz 503, and stores once Redis comes up', async () => {
    const redis = await startRedisServer();
    cleanups.push(() => redis.stop());
    await redis.kill();
    const receiver = await startReceiver(testConfig({ redisUrl: redis.url }), { logger: createLogger('silent') });
    cleanups.push(() => receiver.close());
    const base = `http://127.0.0.1:${receiver.port}`;
    const post = async () => {
      const started = Date.now();
      const response = await fetch(`${base}/zego/callback`, {
        method: 'POST', body: jsonBody(sign(mixStopFields())), headers: { 'content-type': 'application/json' },
      });
      return { status: response.status, ms: Date.now() - started };
    };
    const down = await post();
    expect(down.status).toBe(503);
    expect(down.ms).toBeLessThan(2_000);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    await redis.restart();
    expect(await eventuallyStored(post, 10_000)).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
  });
});
