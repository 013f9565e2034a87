/**
 * What becomes of a delivery after the router made its first attempt (docs/RELIABILITY.md, "First
 * attempts by the router"): pure decisions, table-tested in test/unit/first-attempt.test.ts. The router
 * carries them out; a job it queues goes on exactly where a worker's first attempt would have left
 * it, so the worker continues the schedule from the first retry.
 */
import type { RetryPolicy } from '../../src/config/load.js';
import type { AttemptResult } from './attempt.js';
import { retryDelay } from './backoff.js';
import type { FailedAttemptVerdict } from './breaker.js';

export type FirstAttemptVerdict =
  /** 2xx: no job at all. */
  | { readonly kind: 'delivered' }
  /** Failed, the schedule goes on: a job that counts this attempt, delayed by retry 1's delay. */
  | { readonly kind: 'retry'; readonly delayMs: number }
  /** Failed while the breaker is open: the attempt is not spent; a waiting job the breaker holds. */
  | { readonly kind: 'held' }
  /** 410 (never retried), or a schedule without retries: a job that is dead-lettered at once. */
  | { readonly kind: 'dead'; readonly error: string };

export interface FirstAttemptInput {
  readonly result: Pick<AttemptResult, 'error'>;
  /** The breaker's verdict on this failure; asked only when countsForBreaker(result). */
  readonly breaker?: FailedAttemptVerdict | undefined;
  readonly retry: RetryPolicy;
  /** A number in [0, 1) for the jitter. */
  readonly random: () => number;
}

/** Whether a result is a failure the breaker counts (a retryable one, as in the worker). */
export function countsForBreaker(result: Pick<AttemptResult, 'error'>): boolean {
  return result.error?.retryable === true;
}

/** The decision after a first attempt, the way the worker decides after its attempt 1. */
export function firstAttemptVerdict(input: FirstAttemptInput): FirstAttemptVerdict {
  const { error } = input.result;
  if (!error) return { kind: 'delivered' };
  if (!error.retryable) return { kind: 'dead', error: error.message };
  if (input.breaker === 'held' || input.breaker === 'opened') return { kind: 'held' };
  if (input.retry.schedule.length === 0) return { kind: 'dead', error: error.message };
  return {
    kind: 'retry',
    delayMs: retryDelay({
      retryNumber: 1,
      schedule: input.retry.schedule,
      jitter: input.retry.jitter,
      ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
      random: input.random,
    }),
  };
}

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
