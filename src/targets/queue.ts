/**
 * One target's queue for a command that runs once and exits (`replay`, `drop-queue`), on a
 * fail-fast connection of its own: every Redis command answers or fails within seconds, so a long
 * run is never cut by an overall deadline and a Redis outage never hangs it.
 */
import { Queue } from 'bullmq';
import type { RelayConfig } from '../config/load.js';
import { describeRedis } from '../config/redis-topology.js';
import { UnavailableError } from '../errors.js';
import { queueOptions } from '../redis/queues.js';
import { deliveryQueueName, type DeliveryJobData } from '../shared/names.js';
import { readyWithin } from '../redis/ready.js';
import { createProducerConnection, type RedisConnection } from '../redis/connection.js';

/** How long a command waits for Redis to answer at all before giving up. */
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * Runs `work` with `target`'s queue once Redis answers (else UnavailableError), then closes the
 * queue and its connection, whatever happened.
 */
export async function withTargetQueue<T>(
  config: RelayConfig,
  target: string,
  purpose: string,
  work: (queue: Queue<DeliveryJobData>, connection: RedisConnection) => Promise<T>,
): Promise<T> {
  const connection = createProducerConnection(config.redis, purpose);
  const name = deliveryQueueName(target);
  const queue = new Queue<DeliveryJobData>(name, queueOptions(config, name, connection));
  queue.on('error', () => {});
  try {
    try {
      await readyWithin(connection, CONNECT_TIMEOUT_MS);
    } catch {
      throw new UnavailableError(`Redis (${describeRedis(config.redis)}) did not answer within ${CONNECT_TIMEOUT_MS / 1000} s`);
    }
    return await work(queue, connection);
  } finally {
    await queue.close().catch(() => {});
    connection.disconnect();
  }
}
