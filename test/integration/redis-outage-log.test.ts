/**
 * While Redis is unreachable each role says so once, and once more when it is back, however many
 * connections it holds and however often they retry (it was ~2 lines a second per worker).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startReceiver } from '../../src/receive/server.js';
import { startWorkers } from '../../workers/role.js';
import { capturingLogger } from '../helpers/log-capture.js';
import { startRedisServer } from '../helpers/redis.js';
import { testConfig } from '../helpers/config.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const WARN = 40;

describe('Redis going away and coming back', () => {
  it('is logged once per role (receiver, worker), not per reconnect or per target', async () => {
    const redis = await startRedisServer({ appendfsync: 'everysec' });
    cleanups.push(() => redis.stop());
    const { logger, lines } = capturingLogger();
    const config = testConfig({
      redisUrl: redis.url,
      targets: ['a', 'b', 'c'].map((name) => ({ name, events: ['*'] })),
    });
    const receiver = await startReceiver(config, { logger });
    cleanups.push(() => receiver.close());
    const workers = await startWorkers(config, { logger });
    cleanups.push(() => workers.close());

    await redis.kill();
    // Long enough for many reconnect attempts of every connection (they retry every 0.1-2 s).
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    await redis.restart();
    const back = () => lines.filter((line) => line.msg === 'Redis is reachable again').map((line) => line.role).sort();
    await expect.poll(back, { timeout: 15_000 }).toEqual(['receiver', 'worker']);

    const away = lines.filter((line) => line.msg.startsWith('Redis is unreachable'));
    expect(away.map((line) => line.role).sort()).toEqual(['receiver', 'worker']);
    expect(away.every((line) => line.level === WARN)).toBe(true);
    // Nothing else at warn or above: no per-retry errors from the workers.
    expect(lines.filter((line) => line.level >= WARN && !line.msg.startsWith('Redis is unreachable'))).toEqual([]);
    // The error is described, never dumped with its command (AUTH would carry the password).
    for (const line of away) expect(line.err?.command).toBeUndefined();
  });
});
