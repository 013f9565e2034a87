/**
 * Dead letters failed at a chosen time, for replay tests with dead letters on both sides of
 * `since`. Made through BullMQ's public manual-processing API (a worker's getNextJob, then
 * moveToFailed); BullMQ stamps the failure with Date.now(), so the clock is set to `failedAt` for
 * that one call (vitest's fake Date only: timers and Redis are real).
 */
import { randomUUID } from 'node:crypto';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { vi } from 'vitest';
import type { RelayConfig } from '../../src/config/load.js';
import { queueOptions } from '../../src/redis/queues.js';
import { deliveryQueueName, type DeliveryJobData } from '../../src/shared/names.js';
import { createWorkerConnection } from '../../src/redis/connection.js';
import { callback } from './delivery.js';

export interface DeadLetterOptions {
  /** Added to each one's data (an ordered target's `order` tag). */
  data?: (index: number) => Partial<DeliveryJobData>;
  /** Made while the queue has waiting jobs (a replay under way): each is added LIFO, so it is taken next. */
  whileWaiting?: boolean;
}

/** `count` dead letters of `target` that failed at `failedAt` (ms since the epoch); their callback ids. */
export async function deadLettersAt(config: RelayConfig, target: string, failedAt: number, count: number, options: DeadLetterOptions = {}): Promise<string[]> {
  const connection = createWorkerConnection(config.redis, 'test-dead-letters');
  const name = deliveryQueueName(target);
  const queue = new Queue(name, queueOptions(config, name, connection));
  const worker = new Worker(name, null, { ...queueOptions(config, name, connection), autorun: false });
  const ids: string[] = [];
  try {
    for (let index = 0; index < count; index += 1) {
      const data = callback(options.data?.(index));
      await queue.add(data.event, data, { jobId: data.callbackId, ...(options.whileWaiting ? { lifo: true } : {}) });
      const token = randomUUID();
      const job = await worker.getNextJob(token, { block: false });
      if (job?.id !== data.callbackId) throw new Error(`deadLettersAt: expected job ${data.callbackId} next, got ${job?.id}`);
      vi.useFakeTimers({ toFake: ['Date'], now: failedAt });
      try {
        await job.moveToFailed(new UnrecoverableError('410 gone'), token, false);
      } finally {
        vi.useRealTimers();
      }
      ids.push(data.callbackId);
    }
    return ids;
  } finally {
    await worker.close();
    await queue.close();
    connection.disconnect();
  }
}
