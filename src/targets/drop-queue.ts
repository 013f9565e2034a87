/**
 * What Redis still holds of a target removed from the configuration, and deleting it. Nothing reads
 * a removed target's queue any more: no worker delivers it, `replay` and the admin API refuse its
 * name, and the metrics leave it out, so its deliveries and dead letters would stay in Redis for
 * good. `zego-relay drop-queue --target NAME` shows them and, with --yes, deletes the queue
 * (BullMQ's Queue.obliterate) and the target's breaker state.
 */
import type { RelayConfig } from '../config/load.js';
import { breakerKey } from './breaker-store.js';
import { withTargetQueue } from './queue.js';

/** The states a queue's jobs can be in; `failed` are the dead letters. */
export const QUEUE_CONTENT_STATES = ['waiting', 'prioritized', 'delayed', 'active', 'waiting-children', 'failed', 'completed'] as const;

export type QueueContents = Record<(typeof QUEUE_CONTENT_STATES)[number], number>;

/** `drop-queue` named a target the configuration still has: its workers would recreate the queue. */
export class TargetStillConfiguredError extends Error {
  constructor(readonly target: string) {
    super(
      `target "${target}" is still in the configuration: remove it there and restart the worker processes first ` +
        '(its queue is in use; to empty it, let it drain or use replay and Bull Board)',
    );
    this.name = 'TargetStillConfiguredError';
  }
}

/**
 * Counts the jobs of `target`'s queue and, when `drop` is set, deletes the queue and the target's
 * breaker state. Returns the counts found before deleting.
 */
export async function dropTargetQueue(config: RelayConfig, target: string, drop: boolean): Promise<QueueContents> {
  if (config.targets.some((configured) => configured.name === target)) throw new TargetStillConfiguredError(target);
  return withTargetQueue(config, target, 'drop-queue', async (queue, connection) => {
    const counts = (await queue.getJobCounts(...QUEUE_CONTENT_STATES)) as QueueContents;
    if (drop) {
      // force: jobs a crashed worker left active go too; no worker of this target runs any more.
      await queue.obliterate({ force: true });
      await connection.del(breakerKey(config.redis.prefix, target));
    }
    return counts;
  });
}
