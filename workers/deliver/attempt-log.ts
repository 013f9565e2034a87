/**
 * How an attempt is written down, wherever it was made (the router's first attempt or a worker's
 * job): one log line per attempt, and the line kept in a job's log for Bull Board's log tab.
 */
import type { DeliveryJobData } from '../../src/shared/names.js';
import { traceLogFields } from '../../src/trace/log-fields.js';
import type { AttemptResult } from './attempt.js';

/** The one log line of an attempt: never the body, a header or a secret. */
export function attemptLine(data: DeliveryJobData, attempt: number, result: AttemptResult, outcome: string) {
  return {
    callbackId: data.callbackId,
    event: data.event,
    attempt,
    status: result.status ?? null,
    durationMs: result.durationMs,
    outcome,
    ...(result.error ? { error: result.error.message } : {}),
    ...traceLogFields(data.traceContext),
  };
}

/** Shown in Bull Board's log tab next to failedReason: every spent attempt, not only the last. */
export function jobLogLine(attempt: number, result: AttemptResult & { error: Error }): string {
  return `attempt ${attempt}: ${result.error.message} (${result.durationMs} ms)`;
}
