/**
 * What each `appendfsync` policy keeps when the redis-server PROCESS dies (SIGKILL) while
 * callbacks stream in: the receiver answers 200 only after Redis confirmed the write, and every
 * policy hands the write to the kernel before Redis replies, so a process crash loses no
 * acknowledged callback under any of them. (A power loss or kernel crash is where they differ:
 * that cannot be simulated here; docs/RELIABILITY.md says what each gives.)
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/lib/logger.js';
import { startReceiver } from '../../src/receive/server.js';
import { startRouter } from '../../workers/route/router.js';
import { intakePendingCount } from '../../src/intake/stats.js';
import { queueOptions } from '../../src/redis/queues.js';
import { deliveryQueueName, type DeliveryJobData } from '../../src/shared/names.js';
import { startRedisServer } from '../helpers/redis.js';
import { APP_ID, SECRET, testConfig } from '../helpers/config.js';
import { ZegoSender } from '../helpers/zego-sender.js';
import { intakeCallbacks } from '../helpers/intake.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe.each(['always', 'everysec', 'no'] as const)('Redis with appendfsync %s, SIGKILLed mid-stream', (appendfsync) => {
  it('still holds every callback it acknowledged after the restart', async () => {
    const redis = await startRedisServer({ appendfsync });
    cleanups.push(() => redis.stop());
    const config = testConfig({ redisUrl: redis.url });
    const receiver = await startReceiver(config, { logger: silentLogger });
    cleanups.push(() => receiver.close());
    const sender = new ZegoSender({
      url: `http://127.0.0.1:${receiver.port}${config.server.callbackPath}`, appId: APP_ID, secret: SECRET,
      events: ['mix_stop'], retryScale: 0.05, resendRatio: 0,
    });
    const sending = sender.run(300, 100);
    const answered = (status: string) => sender.answers().get(status) ?? 0;
    // Killed mid-stream: once a good share of the callbacks is acknowledged.
    await expect.poll(() => answered('200'), { timeout: 10_000 }).toBeGreaterThanOrEqual(100);
    await redis.kill();
    // Down until the outage is felt as a 503 (past the receiver's 1.5 s store deadline; a shorter
    // blip is absorbed: requests wait for the reconnect and still get their 200).
    await expect.poll(() => answered('503'), { timeout: 10_000 }).toBeGreaterThan(0);
    await redis.restart();
    await sending;

    const acknowledged = [...sender.callbacks.values()].flatMap((sent) => (sent.acknowledgedId ? [sent.acknowledgedId] : []));
    const answers = sender.answers();
    expect(answers.get('503') ?? 0, `the kill was felt: ${JSON.stringify([...answers])}`).toBeGreaterThan(0);
    expect(acknowledged.length).toBeGreaterThan(250);
    const inspector = new Redis(redis.url);
    cleanups.push(async () => inspector.disconnect());
    // No router ran: every acknowledged callback must still be pending in the intake log.
    const stored = new Set((await intakeCallbacks(inspector, config)).map((callback) => callback.callbackId));
    expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);

    // And a router started now moves each of them to the target's queue, once.
    const router = startRouter(config, { logger: silentLogger });
    cleanups.push(() => router.close());
    await expect.poll(() => intakePendingCount(inspector, config), { timeout: 10_000 }).toBe(0);
    const queue = new Queue<DeliveryJobData>(deliveryQueueName('billing'), queueOptions(config, deliveryQueueName('billing'), inspector));
    cleanups.push(() => queue.close());
    // Waiting, or delayed when the router's first attempt (to a target that is not there) was a probe.
    const queued = (await queue.getJobs(['waiting', 'delayed'], 0, -1)).map((job) => job.id);
    expect(new Set(queued).size).toBe(queued.length);
    expect(acknowledged.filter((id) => !queued.includes(id))).toEqual([]);
  }, 30_000);
});
