/**
 * Opening the BullMQ queues: one per target (targets stay isolated: own concurrency, limiter,
 * backlog) plus the unrouted queue. Names and the key layout live in names.ts.
 */
import { Queue, type QueueOptions } from 'bullmq';
import type { RelayConfig } from '../config/load.js';
import { UNROUTED_QUEUE, deliveryQueueName, queuePrefix, type DeliveryJobData } from '../shared/names.js';
import { closeConnection, type RedisConnection } from './connection.js';

/** The options of one queue, for a Queue or a Worker: its own prefix (hash tag) and the connection. */
export function queueOptions(config: RelayConfig, queueName: string, connection: RedisConnection): QueueOptions {
  return { connection, prefix: queuePrefix(config.redis.prefix, queueName) };
}

/**
 * The queues of every target plus the unrouted queue, sharing one connection (the router, admin and
 * Bull Board only add and read; workers open their own). Event streams are kept short: nothing
 * here consumes them beyond Bull Board's view, and a long stream is Redis memory per job.
 */
export function openQueues(config: RelayConfig, connection: RedisConnection): Map<string, Queue<DeliveryJobData>> {
  const queues = new Map<string, Queue<DeliveryJobData>>();
  const open = (name: string) =>
    new Queue<DeliveryJobData>(name, { ...queueOptions(config, name, connection), streams: { events: { maxLen: 1000 } } });
  for (const target of config.targets) queues.set(target.name, open(deliveryQueueName(target.name)));
  queues.set(UNROUTED_QUEUE, open(UNROUTED_QUEUE));
  // Queues re-emit their connection's errors; the caller's connection listener reports them once.
  // Without a listener BullMQ prints each one as a stack trace on stderr, outside the JSON logs.
  for (const queue of queues.values()) queue.on('error', () => {});
  return queues;
}

/**
 * Closes `queues`, then the connection they share: the queues first, so none is left holding a
 * command on a connection that is gone. `quit` lets replies in flight arrive (a cut if Redis does
 * not answer); `disconnect` cuts at once. Never throws.
 */
export async function closeQueues(queues: ReadonlyMap<string, Queue>, connection: RedisConnection, how: 'quit' | 'disconnect'): Promise<void> {
  await Promise.allSettled([...queues.values()].map((queue) => queue.close()));
  if (how === 'quit') await closeConnection(connection);
  else connection.disconnect();
}
