/**
 * The retry delay of a delivery: one pure function, table-tested in test/unit/backoff.test.ts.
 * The worker calls it to schedule each retry (job.moveToDelayed); nothing else decides when a
 * delivery is retried.
 */

export interface RetryDelayInput {
  /** 1 for the first retry (after the first failed attempt), 2 for the second, ... */
  readonly retryNumber: number;
  /** Delay before retry 1, 2, ... in ms (the target's `retry.schedule`). */
  readonly schedule: readonly number[];
  /** Random spread as a fraction: 0.2 means the delay lands within +-20% of the step. */
  readonly jitter: number;
  /** What the target asked for with `Retry-After` (429/503), in ms. */
  readonly retryAfterMs?: number;
  /** A number in [0, 1), e.g. Math.random; injected so tests are exact. */
  readonly random: () => number;
}

/**
 * Milliseconds to wait before retry `retryNumber`.
 *
 * - The step is `schedule[retryNumber - 1]`, spread by +-jitter. A retry beyond the schedule (the
 *   schedule was shortened after the job was stored) uses the last step.
 * - `Retry-After` is a floor, never a shortcut: the target is not called before it asked to be,
 *   and not before the schedule says either (a target answering "Retry-After: 0" in a loop must not
 *   turn the schedule into a busy loop).
 * - ...but it is capped at the schedule's largest step, so a target cannot park a delivery beyond
 *   what the operator configured (`Retry-After: 31536000` waits the largest step, not a year).
 */
export function retryDelay(input: RetryDelayInput): number {
  const { schedule, jitter } = input;
  if (schedule.length === 0) return 0;
  const index = Math.min(Math.max(input.retryNumber, 1), schedule.length) - 1;
  const step = schedule[index]!;
  const spread = 1 + jitter * (2 * input.random() - 1);
  const scheduled = Math.max(0, Math.round(step * spread));
  if (input.retryAfterMs === undefined || !(input.retryAfterMs > 0)) return scheduled;
  const ceiling = Math.max(...schedule);
  return Math.max(scheduled, Math.min(Math.round(input.retryAfterMs), ceiling));
}

/**
 * A `Retry-After` header in ms: delta-seconds (`120`) or an HTTP date, relative to `now`.
 * Undefined when absent or unreadable; a date in the past is 0.
 */
export function parseRetryAfter(value: string | readonly string[] | undefined, now: number): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Only the date forms of RFC 9110 (they name a weekday or month); plain numbers with signs or
  // fractions are invalid delta-seconds, not dates.
  if (!/[A-Za-z]/.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
