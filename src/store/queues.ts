/**
 * What the receiver stores and the workers read: queue names, Redis key names and the job payload.
 * One BullMQ queue per target keeps targets isolated (own concurrency, limiter, backlog).
 */
import { Queue, type QueueOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { RelayConfig } from '../config/load.js';

/** The queue of one target's deliveries. BullMQ forbids ':' in queue names. */
export function deliveryQueueName(targetName: string): string {
  return `deliver-${targetName}`;
}

/** Callbacks that matched no target: kept (and counted), never dropped. */
export const UNROUTED_QUEUE = 'unrouted';

/** Redis keys of the receiver's markers, under the configured prefix. */
export const markerKeys = {
  /** Present while a callback id is remembered for de-duplication. */
  seen: (prefix: string, callbackId: string) => `${prefix}:seen:${callbackId}`,
  /**
   * The callback id a nonce first came with (replay defense). One key for every app: ZEGO's
   * signature covers no app id, so apps sharing a secret must share the binding too.
   */
  nonce: (prefix: string, nonce: string) => `${prefix}:nonce:${nonce}`,
  /** WATCHed while a callback is stored; the admission script writes it to abort the EXEC. */
  guard: (prefix: string, callbackId: string) => `${prefix}:guard:${callbackId}`,
};

/** The payload of every delivery job (and of an unrouted callback). */
export interface DeliveryJobData {
  /** The callback id: `webhook-id`, the same on every retry and every target. */
  callbackId: string;
  event: string;
  appId: string;
  /** The JSON body to POST: the exact text ZEGO sent, or a JSON object of a form's fields. */
  body: string;
  /** When the receiver stored it (ms since epoch). */
  receivedAt: number;
}


/**
 * The queues of every target plus the unrouted queue, sharing one connection (producers and Bull
 * Board only read and add; workers open their own). Event streams are kept short: nothing here
 * consumes them beyond Bull Board's view, and a long stream is Redis memory per job.
 */
export function openQueues(config: RelayConfig, connection: Redis): Map<string, Queue<DeliveryJobData>> {
  const options: QueueOptions = { connection, prefix: config.redis.prefix, streams: { events: { maxLen: 1000 } } };
  const queues = new Map<string, Queue<DeliveryJobData>>();
  for (const target of config.targets) {
    queues.set(target.name, new Queue<DeliveryJobData>(deliveryQueueName(target.name), options));
  }
  queues.set(UNROUTED_QUEUE, new Queue<DeliveryJobData>(UNROUTED_QUEUE, options));
  // Queues re-emit their connection's errors; the caller's connection listener reports them once.
  // Without a listener BullMQ prints each one as a stack trace on stderr, outside the JSON logs.
  for (const queue of queues.values()) queue.on('error', () => {});
  return queues;
}
