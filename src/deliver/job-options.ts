/**
 * The BullMQ options of a delivery job, decided when the receiver stores it: the number of
 * attempts comes from the target's schedule, the delays from the worker's backoff strategy
 * (deliver/backoff.ts), retention from `retention`. Dead letters are BullMQ's failed jobs.
 */
import type { JobsOptions } from 'bullmq';
import type { RelayConfig, Target } from '../config/load.js';

/** The name of the custom backoff strategy every delivery worker registers. */
export const BACKOFF_TYPE = 'zego-relay-schedule';

export function deliveryJobOptions(target: Target, retention: RelayConfig['retention'], callbackId?: string): JobsOptions {
  return {
    ...(callbackId === undefined ? {} : { jobId: callbackId }),
    attempts: 1 + target.retry.schedule.length,
    backoff: { type: BACKOFF_TYPE },
    removeOnComplete: { age: Math.ceil(retention.completedAge / 1000), count: retention.completedCount },
    removeOnFail: { age: Math.ceil(retention.deadLetterAge / 1000) },
  };
}

/**
 * A callback no target wanted: kept (as a completed job of the unrouted queue, see unrouted.ts)
 * as long as a dead letter, then trimmed, so unrouted traffic cannot grow Redis without bound.
 */
export function unroutedJobOptions(retention: RelayConfig['retention'], callbackId: string): JobsOptions {
  return { jobId: callbackId, removeOnComplete: { age: Math.ceil(retention.deadLetterAge / 1000) } };
}
