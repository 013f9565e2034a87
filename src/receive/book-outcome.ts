/**
 * What became of one request on the callback path, as one typed value, and the one place that books
 * it: `zego_relay_callbacks_received_total`, the span, the log line and, for a refusal, Rejections
 * (counted by reason, sampled to the rejected list, summarised). The POST handler
 * (callback-handler.ts) and the 405 answer (app.ts) both book here.
 *
 * The log: an accepted callback on one info line; a refused one only at debug level, since a flood
 * of bad requests must not flood the log (the summary, the metric and the rejected list say what an
 * operator needs); a callback not stored (5xx) as a warning with its cause.
 */
import { HttpError } from '../errors.js';
import type { Logger } from '../lib/logger.js';
import { callbacksReceived, eventLabel } from '../shared/metrics.js';
import type { IntakeOutcome } from '../spool/spooling-store.js';
import type { CallbackSpan } from '../trace/callback-span.js';
import type { RejectedRequest } from '../rejected/sample.js';
import type { Rejections } from '../rejected/rejections.js';

/** The store's answers that are a 200 (a replayed nonce is a 401). */
export type AcceptedAs = Exclude<IntakeOutcome, 'replayed'>;

export type CallbackOutcome =
  /** Stored, a duplicate, or fsynced in the outage spool: 200. */
  | { readonly kind: 'accepted'; readonly outcome: AcceptedAs; readonly status: 200 }
  /** Refused (4xx): the error answers it (error-middleware.ts); `sample` is what the rejected list keeps. */
  | { readonly kind: 'refused'; readonly outcome: string; readonly status: number; readonly error: HttpError; readonly sample: RejectedRequest }
  /** Not stored (5xx): the store was unavailable (its code) or something unexpected (`internal_error`). */
  | { readonly kind: 'failed'; readonly outcome: string; readonly status: number; readonly error: unknown };

/** What the handler learnt of the callback before it answered. */
export interface CallbackSeen {
  readonly callbackId?: string | undefined;
  readonly event?: string | undefined;
  readonly appId?: string | undefined;
  /** Set once the signature verified: only then may the sender's event name become a label. */
  readonly authenticated: boolean;
}

/** The outcome of a request answered 200. */
export function accepted(as: AcceptedAs): CallbackOutcome {
  return { kind: 'accepted', outcome: as, status: 200 };
}

/**
 * The outcome of a request whose handling threw `error`: an HttpError below 500 is a refusal (its
 * code is the outcome; `sample` says what the rejected list keeps of it), one of 500 and above is
 * not stored, and anything else is a bug: 500 `internal_error`.
 */
export function outcomeOfError(error: unknown, sample: (error: HttpError) => RejectedRequest): CallbackOutcome {
  if (!(error instanceof HttpError)) return { kind: 'failed', outcome: 'internal_error', status: 500, error };
  if (error.status >= 500) return { kind: 'failed', outcome: error.code, status: error.status, error };
  return { kind: 'refused', outcome: error.code, status: error.status, error, sample: sample(error) };
}

/** The labels of `zego_relay_callbacks_received_total`. */
export function receivedLabels(outcome: CallbackOutcome, seen: CallbackSeen): { event: string; outcome: string } {
  return { event: eventLabel(seen.authenticated ? seen.event : undefined), outcome: outcome.outcome };
}

/** The request's one log line (and its span's facts): never the body, a header or a secret. */
export function outcomeLine(outcome: CallbackOutcome, seen: CallbackSeen, ms: number) {
  return {
    callbackId: seen.callbackId,
    event: seen.event,
    appId: seen.appId,
    outcome: outcome.outcome,
    status: outcome.status,
    ms: Math.round(ms * 10) / 10,
  };
}

export interface OutcomeBook {
  readonly logger: Logger;
  readonly rejections: Rejections;
}

/** Books one request: the metric, the span (when traced), the log line, and a refusal's rejection. */
export function bookOutcome(book: OutcomeBook, outcome: CallbackOutcome, seen: CallbackSeen, ms: number, span?: CallbackSpan): void {
  callbacksReceived.inc(receivedLabels(outcome, seen));
  const line = { ...outcomeLine(outcome, seen, ms), ...span?.logFields };
  span?.end(line, outcome.kind === 'accepted' ? undefined : outcome.error);
  switch (outcome.kind) {
    case 'accepted':
      book.logger.info(line, 'callback accepted');
      break;
    case 'refused':
      book.logger.debug(line, 'callback rejected');
      book.rejections.report(outcome.sample);
      break;
    case 'failed':
      book.logger.warn({ ...line, err: causeOf(outcome.error) }, 'callback not stored');
      break;
  }
}

/** What to log about a 5xx: the underlying Redis error rather than our generic wrapper. */
function causeOf(error: unknown): unknown {
  return error instanceof Error && error.cause !== undefined ? error.cause : error;
}
