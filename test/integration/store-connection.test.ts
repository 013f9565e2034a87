/**
 * The store's connection over an outage: one warning when Redis goes away and one line when it is
 * back (not one per reconnect attempt), a stalled Redis answered within the deadline with the
 * reason in the cause, the connection's name, and close().
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { Logger } from '../../src/lib/logger.js';
import { CallbackStore } from '../../src/intake/callback-store.js';
import { startRedisServer, useTestRedis } from '../helpers/redis.js';
import { APP_ID, testConfig } from '../helpers/config.js';

const redis = useTestRedis();

function recordingLogger() {
  const lines: { level: string; message: string; err?: unknown }[] = [];
  const roles = new Set<unknown>();
  const logger = {
    warn: (fields: { err?: unknown; role?: unknown }, message: string) => {
      roles.add(fields.role);
      lines.push({ level: 'warn', message, err: fields.err });
    },
    info: (fieldsOrMessage: unknown, message?: string) =>
      lines.push({ level: 'info', message: typeof fieldsOrMessage === 'string' ? fieldsOrMessage : String(message) }),
  } as unknown as Logger;
  return { logger, lines, roles };
}

const callback = () => ({ callbackId: `cb_${randomUUID().replace(/-/g, '')}`, event: 'mix_stop', appId: APP_ID, replayKey: randomUUID(), body: '{}' });

async function privateStore() {
  const server = await startRedisServer();
  const { logger, lines, roles } = recordingLogger();
  const store = CallbackStore.open(testConfig({ redisUrl: server.url }), logger);
  redis.cleanup(async () => {
    await store.close();
    await server.stop();
  });
  expect(await store.store(callback())).toBe('stored');
  return { server, store, lines, roles };
}

describe('the store connection', () => {
  it('warns once per outage, however many reconnects fail, and says once that Redis is back', async () => {
    const { server, store, lines, roles } = await privateStore();
    let errors = 0;
    store.connection.on('error', () => (errors += 1));
    await server.kill();
    await expect.poll(() => errors, { timeout: 5_000 }).toBeGreaterThanOrEqual(3);
    expect(lines).toEqual([{ level: 'warn', message: 'Redis is unreachable; callbacks are answered 503 until it is back', err: expect.objectContaining({ code: 'ECONNREFUSED', message: expect.any(String) }) }]);
    expect([...roles]).toEqual(['receiver']);
    await server.restart();
    await expect.poll(() => store.connection.status, { timeout: 10_000 }).toBe('ready');
    expect(lines.slice(1)).toEqual([{ level: 'info', message: 'Redis is reachable again' }]);
    // The next outage warns again.
    await server.kill();
    await expect.poll(() => lines.length, { timeout: 5_000 }).toBe(3);
    expect(lines[2]).toMatchObject({ level: 'warn' });
  });

  it('answers a stalled Redis unavailable within the deadline, saying why in the cause', async () => {
    const { server, store } = await privateStore();
    server.pause();
    redis.cleanup(async () => server.resume());
    const started = Date.now();
    const error = (await store.store(callback()).catch((caught: unknown) => caught)) as Error & { cause?: Error };
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(error.name).toBe('UnavailableError');
    expect(error.cause?.message).toBe('Redis did not answer within 1500 ms');
  });

  it('is named zego-relay:receiver in CLIENT LIST, and close() ends it', async () => {
    const { server, store } = await privateStore();
    const inspector = new Redis(server.url);
    redis.cleanup(async () => inspector.disconnect());
    expect(String(await inspector.client('LIST'))).toContain('name=zego-relay:receiver ');
    await store.close();
    await expect.poll(() => store.connection.status).toBe('end');
  });
});
