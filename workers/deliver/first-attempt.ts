/**
 * What becomes of a delivery after the router made its first attempt (docs/RELIABILITY.md, "First
 * attempts by the router"): pure decisions, table-tested in test/unit/first-attempt.test.ts. What follows
 * an answer is decided as for a worker's attempt 1 (decision.ts); the router carries it out, and a
 * job it queues goes on exactly where a worker's first attempt would have left it, so the worker
 * continues the schedule from the first retry. This file holds the router's own case: an attempt
 * still running at the batch's deadline.
 */
import type { RetryPolicy } from '../../src/config/load.js';
import { retryDelay } from './backoff.js';

/** Time given to a handed-off attempt's late answer to reach its job before the job may run. */
export const HANDOFF_MARGIN_MS = 1_000;

export interface HandoffInput {
  /** How long the attempt has been running. */
  readonly elapsedMs: number;
  /** The target's timeout: the attempt ends by then at the latest. */
  readonly timeoutMs: number;
  readonly retry: RetryPolicy;
  readonly random: () => number;
}

/**
 * The delay of the job a first attempt still in flight at the deadline is handed to. The job
 * counts the attempt and waits until the attempt must have ended (its timeout) plus retry 1's
 * delay, as after a timeout in the worker, so the two never run at once. The attempt's answer,
 * when it comes, moves the job (delivered: removed; failed: rescheduled from then).
 */
export function handoffDelay(input: HandoffInput): number {
  const left = Math.max(0, input.timeoutMs - input.elapsedMs);
  const retry = input.retry.schedule.length === 0
    ? 0
    : retryDelay({ retryNumber: 1, schedule: input.retry.schedule, jitter: input.retry.jitter, random: input.random });
  return left + retry + HANDOFF_MARGIN_MS;
}
