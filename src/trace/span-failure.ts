/** Marking a span failed: `error.type`, status error and a message that never shows URL credentials. */
import { SpanStatusCode, type Span } from '@opentelemetry/api';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';
import { maskUrlCredentials } from '../lib/redact.js';

/** `error`'s cause when it wraps one (UnavailableError wraps the Redis error), else `error` itself. */
export function markFailed(span: Span, type: string, error: unknown): void {
  const cause = error instanceof Error && error.cause !== undefined ? error.cause : error;
  span.setAttribute(ATTR_ERROR_TYPE, type);
  span.setStatus({ code: SpanStatusCode.ERROR, message: maskUrlCredentials(cause instanceof Error ? cause.message : String(cause ?? type)) });
}

/** The type of a thrown error, for `error.type`. */
export const errorType = (error: unknown): string => (error instanceof Error ? error.name : 'error');
