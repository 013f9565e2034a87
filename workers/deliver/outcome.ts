/**
 * What a target's answer means. Kept apart from the HTTP code so the rules read as one table:
 * 2xx delivered; 410 gone for good; 429/503 retry after what the target asked; 3xx (never
 * followed) and every other status retried on the schedule.
 */
import { DeliveryError } from '../../src/errors.js';
import { displayUrl } from '../../src/lib/redact.js';
import { parseRetryAfter } from './backoff.js';

export interface TargetAnswer {
  readonly status: number;
  readonly statusMessage?: string;
  readonly retryAfter?: string | readonly string[];
  readonly location?: string;
}

/** True for 2xx. */
export function isDelivered(status: number): boolean {
  return status >= 200 && status < 300;
}

/**
 * The error of an answer that is not a 2xx, or undefined when it was delivered.
 * `now` reads HTTP-date Retry-After values.
 */
export function answerError(answer: TargetAnswer, now: number): DeliveryError | undefined {
  const { status } = answer;
  if (isDelivered(status)) return undefined;
  const said = `target answered ${status}${answer.statusMessage ? ` ${answer.statusMessage}` : ''}`;
  if (status === 410) return new DeliveryError(`${said} (gone: not retried)`, false, status);
  if (status === 429 || status === 503) {
    const retryAfterMs = parseRetryAfter(answer.retryAfter, now);
    const asked = retryAfterMs === undefined ? '' : ` (Retry-After ${Math.round(retryAfterMs / 1000)}s)`;
    return new DeliveryError(`${said}${asked}`, true, status, retryAfterMs);
  }
  if (status >= 300 && status < 400) {
    return new DeliveryError(`${said}: redirect to ${shownLocation(answer.location)} not followed`, true, status);
  }
  return new DeliveryError(said, true, status);
}

/** A request that got no answer at all (timeout, refused, reset, DNS): always worth a retry. */
export function networkError(error: unknown, timeoutMs: number): DeliveryError {
  const code = (error as { code?: string }).code;
  if (code === 'ETIMEDOUT' || (error as Error).name === 'TimeoutError') {
    return new DeliveryError(`no answer within ${timeoutMs} ms (timeout)`, true);
  }
  const message = error instanceof Error ? error.message : String(error);
  return new DeliveryError(`request failed${code ? ` (${code})` : ''}: ${message}`, true);
}

/**
 * A redirect's Location as any URL is shown (displayUrl): it often repeats the target's own path,
 * token included. A relative one keeps its first path segment only.
 */
function shownLocation(location: string | undefined): string {
  if (location === undefined) return '(no location)';
  if (/^[a-z][a-z0-9+.-]*:/i.test(location)) return displayUrl(location);
  const [first = '', ...rest] = location.replace(/^\//, '').split(/[/?#]/);
  return `/${first}${rest.length > 0 ? '/***' : ''}`;
}
