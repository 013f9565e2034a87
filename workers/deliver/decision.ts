/**
 * What becomes of a delivery after an attempt, as one typed value. The worker (worker.ts) and the
 * router's first attempts (workers/route/first-attempts.ts) both decide here and only carry the decision
 * out, so an attempt made by either is judged by the same rules. Table-tested in
 * test/unit/deliver-decision.test.ts.
 */
import type { RetryPolicy } from '../../src/config/load.js';
import type { AttemptResult } from './attempt.js';
import { retryDelay } from './backoff.js';
import type { FailedAttemptVerdict } from './breaker.js';

export type DeliveryDecision =
  /** A 2xx. */
  | { readonly kind: 'delivered' }
  /** Failed, the attempt is spent and the schedule goes on after `delayMs`. */
  | { readonly kind: 'retry'; readonly delayMs: number }
  /**
   * Failed while the breaker is open: the attempt is not spent; the delivery waits for the breaker.
   * `opened`: this very failure opened it, so the queue should stop fetching now.
   */
  | { readonly kind: 'held'; readonly opened: boolean }
  /** A never-retried answer (410), or the last attempt of the schedule failed. */
  | { readonly kind: 'dead'; readonly reason: string }
  /** Our own shutdown cut the request: not the target's doing, so no attempt is spent. */
  | { readonly kind: 'interrupted' };

export interface DecisionInput {
  readonly result: Pick<AttemptResult, 'status' | 'error'>;
  /** The number of the attempt just made (1 for the first). */
  readonly attempt: number;
  /** The breaker's verdict on this failure; asked only when countsForBreaker(...) said so. */
  readonly breaker?: FailedAttemptVerdict | undefined;
  readonly retry: RetryPolicy;
  /** Set once our own shutdown is cutting the requests in flight. @defaultValue false */
  readonly shuttingDown?: boolean;
  /** A number in [0, 1) for the jitter. */
  readonly random: () => number;
}

/** A request cut by our shutdown: it failed without any answer while the shutdown cuts requests. */
function interrupted(result: DecisionInput['result'], shuttingDown: boolean): boolean {
  return shuttingDown && result.error !== undefined && result.status === undefined;
}

/**
 * Whether the breaker is told about this result: a retryable failure that our own shutdown did not
 * cause. A never-retried answer (410) says nothing about the target's health.
 */
export function countsForBreaker(result: DecisionInput['result'], shuttingDown = false): boolean {
  return result.error?.retryable === true && !interrupted(result, shuttingDown);
}

/** The decision after an attempt. */
export function decideDelivery(input: DecisionInput): DeliveryDecision {
  const { result, attempt, retry } = input;
  const { error } = result;
  if (!error) return { kind: 'delivered' };
  if (interrupted(result, input.shuttingDown ?? false)) return { kind: 'interrupted' };
  if (!error.retryable) return { kind: 'dead', reason: error.message };
  // Held wins over the end of the schedule: an attempt made while the breaker is open is not spent.
  if (input.breaker === 'held' || input.breaker === 'opened') return { kind: 'held', opened: input.breaker === 'opened' };
  if (attempt > retry.schedule.length) return { kind: 'dead', reason: error.message };
  return {
    kind: 'retry',
    delayMs: retryDelay({
      retryNumber: attempt,
      schedule: retry.schedule,
      jitter: retry.jitter,
      ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
      random: input.random,
    }),
  };
}
