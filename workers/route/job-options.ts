/**
 * The BullMQ options of a delivery job, decided when it is queued: retention from `retention`.
 * Dead letters are BullMQ's failed jobs. BullMQ itself never retries a delivery (`attempts: 1`):
 * the worker counts attempts in the job's data and schedules each retry on the target's schedule
 * (worker.ts, backoff.ts), so the schedule in force is the worker's configuration, not a copy
 * frozen into every job.
 */
import type { JobsOptions } from 'bullmq';
import type { RelayConfig, Target } from '../../src/config/load.js';

/** `target` is kept for callers: every target's jobs get the same options today. */
export function deliveryJobOptions(_target: Target, retention: RelayConfig['retention'], callbackId?: string): JobsOptions {
  return {
    ...(callbackId === undefined ? {} : { jobId: callbackId }),
    attempts: 1,
    removeOnComplete: { age: Math.ceil(retention.completedAge / 1000), count: retention.completedCount },
    removeOnFail: { age: Math.ceil(retention.deadLetterAge / 1000) },
  };
}

/**
 * A callback no target wanted: kept (as a completed job of the unrouted queue, see unrouted.ts)
 * for `retention.unroutedAge` and at most `retention.unroutedCount` of them, so unrouted traffic
 * cannot grow Redis without bound, however fast it comes.
 */
export function unroutedJobOptions(retention: RelayConfig['retention'], callbackId: string): JobsOptions {
  return { jobId: callbackId, removeOnComplete: { age: Math.ceil(retention.unroutedAge / 1000), count: retention.unroutedCount } };
}
