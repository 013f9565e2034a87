/**
 * A CLIENT span per delivery attempt, under the callback's trace (its context field), in whichever
 * process makes the attempt and however long after the callback; the target's request carries the
 * attempt span's `traceparent` (and `tracestate`). Wraps a target's client once, where the client
 * is made (workers/deliver/attempt.ts), so every caller of an attempt gets it.
 */
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import {
  ATTR_ERROR_TYPE, ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_REQUEST_RESEND_COUNT, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT, ATTR_URL_SCHEME,
} from '@opentelemetry/semantic-conventions';
import { maskUrlCredentials } from '../lib/redact.js';
import { ATTEMPT, ATTEMPT_DURATION_MS, CALLBACK_EVENT, CALLBACK_ID, RETRYABLE, TARGET } from './attributes.js';
import { contextOfField, traceHeaders, type TraceHeaders } from './context-field.js';
import { activeTracer } from './tracing.js';

/** What an attempt needs to know of a delivery (DeliveryJobData has it). */
export interface AttemptData {
  readonly callbackId: string;
  readonly event: string;
  readonly traceContext?: string | undefined;
}

/** What an attempt reports (workers/deliver/attempt.ts's AttemptResult). */
export interface AttemptReport {
  readonly status?: number | undefined;
  readonly error?: { readonly message: string; readonly retryable: boolean } | undefined;
  readonly durationMs: number;
}

/** A target's client: one POST per call, never throwing; `trace` adds the W3C headers. */
export interface AttemptClient<Data extends AttemptData, Report extends AttemptReport> {
  attempt(data: Data, attempt: number, trace?: TraceHeaders, handle?: { cut?: () => void }): Promise<Report>;
}

/**
 * `client` with a span around each attempt while tracing is on; `client` itself when it is off
 * (decided once, when the target's worker starts).
 */
export function traceAttempts<Data extends AttemptData, Report extends AttemptReport, Client extends AttemptClient<Data, Report>>(
  target: { readonly name: string; readonly url: string },
  client: Client,
): Client {
  const tracer = activeTracer();
  if (!tracer) return client;
  const url = new URL(target.url);
  const fixed = {
    [ATTR_HTTP_REQUEST_METHOD]: 'POST',
    [ATTR_URL_SCHEME]: url.protocol.slice(0, -1),
    [ATTR_SERVER_ADDRESS]: url.hostname,
    [ATTR_SERVER_PORT]: Number(url.port) || (url.protocol === 'https:' ? 443 : 80),
    [TARGET]: target.name,
  };
  const attempt = async (data: Data, number: number, _trace?: TraceHeaders, handle?: { cut?: () => void }): Promise<Report> => {
    const parent = contextOfField(data.traceContext);
    const span = tracer.startSpan(
      `deliver ${target.name}`,
      { kind: SpanKind.CLIENT, attributes: { ...fixed, [ATTEMPT]: number, [CALLBACK_ID]: data.callbackId, [CALLBACK_EVENT]: data.event } },
      parent,
    );
    const report = await client.attempt(data, number, traceHeaders(trace.setSpan(parent, span)), handle);
    if (span.isRecording()) {
      if (number > 1) span.setAttribute(ATTR_HTTP_REQUEST_RESEND_COUNT, number - 1);
      if (report.status !== undefined) span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, report.status);
      span.setAttribute(ATTEMPT_DURATION_MS, report.durationMs);
      if (report.error) {
        span.setAttributes({ [ATTR_ERROR_TYPE]: report.status !== undefined ? String(report.status) : 'no_answer', [RETRYABLE]: report.error.retryable });
        span.setStatus({ code: SpanStatusCode.ERROR, message: maskUrlCredentials(report.error.message) });
      }
    }
    span.end();
    return report;
  };
  return { ...client, attempt };
}
