/**
 * A callback that matches no target is kept, visible and bounded: the receiver stores it in the
 * intake log, the router puts it in the unrouted queue, the worker role marks it completed (not delivered anywhere), and it carries the
 * unrouted retention (age and count) so unrouted traffic cannot grow Redis without bound.
 */
import { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/lib/logger.js';
import { startReceiver } from '../../src/receive/server.js';
import { queueOptions } from '../../src/redis/queues.js';
import { UNROUTED_QUEUE, type DeliveryJobData } from '../../src/shared/names.js';
import { intakeCallbacks } from '../helpers/intake.js';
import { startWorkers } from '../../workers/role.js';
import { APP_ID, testConfig } from '../helpers/config.js';
import { jsonBody, sign } from '../helpers/zego.js';
import { useTestRedis } from '../helpers/redis.js';

const redis = useTestRedis();

describe('an unrouted callback', () => {
  it('is completed by the worker role and kept within the unrouted retention, then trimmed', async () => {
    const config = testConfig({ redisUrl: redis.url, targets: [{ name: 'billing', events: ['mix_stop'] }] });
    const receiver = await startReceiver(config, { logger: silentLogger });
    redis.cleanup(() => receiver.close());
    const queue = new Queue<DeliveryJobData>(UNROUTED_QUEUE, queueOptions(config, UNROUTED_QUEUE, redis.inspector));
    redis.cleanup(() => queue.close());

    const response = await fetch(`http://127.0.0.1:${receiver.port}${config.server.callbackPath}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: jsonBody(sign({ appid: APP_ID, event: 'stream_create', stream_sid: 's1', stream_seq: '1' })),
    });
    const { id } = (await response.json()) as { id: string };
    expect(response.status).toBe(200);
    // Stored before any router ran: it waits in the intake log, and the worker role routes it.
    expect((await intakeCallbacks(redis.inspector, config)).map((callback) => callback.callbackId)).toEqual([id]);

    const workers = await startWorkers(config, { logger: silentLogger });
    redis.cleanup(() => workers.close());
    const deadline = Date.now() + 5_000;
    while ((await (await queue.getJob(id))?.getState()) !== 'completed') {
      if (Date.now() > deadline) throw new Error('the unrouted callback was not completed within 5 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const job = await queue.getJob(id);
    expect(job?.returnvalue).toEqual({ unrouted: true });
    expect(job?.data.event).toBe('stream_create');
    expect(job?.opts.removeOnComplete).toEqual({ age: config.retention.unroutedAge / 1000, count: config.retention.unroutedCount });
  });

  it('keeps only the newest retention.unroutedCount of them', async () => {
    const config = testConfig({ redisUrl: redis.url, retention: { unroutedCount: 3 }, targets: [{ name: 'billing', events: ['mix_stop'] }] });
    const receiver = await startReceiver(config, { logger: silentLogger });
    redis.cleanup(() => receiver.close());
    const workers = await startWorkers(config, { logger: silentLogger });
    redis.cleanup(() => workers.close());
    const queue = new Queue<DeliveryJobData>(UNROUTED_QUEUE, queueOptions(config, UNROUTED_QUEUE, redis.inspector));
    redis.cleanup(() => queue.close());

    const ids: string[] = [];
    for (let index = 0; index < 5; index += 1) {
      const response = await fetch(`http://127.0.0.1:${receiver.port}${config.server.callbackPath}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: jsonBody(sign({ appid: APP_ID, event: 'stream_create', stream_sid: `s${index}`, stream_seq: '1' })),
      });
      expect(response.status).toBe(200);
      ids.push(((await response.json()) as { id: string }).id);
      // One at a time, so "the newest" is the order they were sent in.
      await expect.poll(async () => (await queue.getJob(ids.at(-1)!))?.getState() ?? 'missing', { timeout: 5_000 }).toBe('completed');
    }
    const completed = await queue.getCompleted();
    expect(completed.map((job) => job.id).sort()).toEqual(ids.slice(-3).sort());
    expect(await queue.getJobCounts('completed', 'waiting', 'active')).toEqual({ completed: 3, waiting: 0, active: 0 });
  });
});
