/**
 * The SERVER span of ZEGO's POST, continuing a `traceparent` the request came with (a proxy in
 * front may send one), and the store call's span under it. The receiver asks for it once per
 * request; with tracing off it gets undefined and does nothing else.
 */
import type { IncomingMessage } from 'node:http';
import { ROOT_CONTEXT, SpanKind, trace, type Attributes, type Context } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  ATTR_CLIENT_ADDRESS, ATTR_DB_SYSTEM_NAME, ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PROTOCOL_VERSION, ATTR_URL_PATH, ATTR_URL_SCHEME, ATTR_USER_AGENT_ORIGINAL,
} from '@opentelemetry/semantic-conventions';
import { CALLBACK_APP_ID, CALLBACK_EVENT, CALLBACK_ID, OUTCOME } from './attributes.js';
import { traceContextField } from './context-field.js';
import { errorType, markFailed } from './span-failure.js';
import { activeTracer } from './tracing.js';

const propagator = new W3CTraceContextPropagator();
const headerGetter = {
  get: (headers: IncomingMessage['headers'], key: string) => headers[key],
  keys: (headers: IncomingMessage['headers']) => Object.keys(headers),
};

/** What the receiver knows once it has answered: its log line's fields. */
export interface CallbackFacts {
  readonly callbackId?: string | undefined;
  readonly event?: string | undefined;
  readonly appId?: string | undefined;
  readonly outcome: string;
  readonly status: number;
}

export interface CallbackSpan {
  /** The callback's trace context, to store with it (spread into CallbackToStore). */
  readonly stored: { readonly traceContext?: string };
  /** For the callback's log lines. */
  readonly logFields: { readonly trace_id: string };
  /** Runs the store call under a span of its own. */
  storing<T>(work: () => Promise<T>): Promise<T>;
  /** Ends the span with the answer. */
  end(facts: CallbackFacts, failure: unknown): void;
}

/** The span of one POST on the callback path; undefined when tracing is off. */
export function startCallbackSpan(request: IncomingMessage, route: string): CallbackSpan | undefined {
  const tracer = activeTracer();
  if (!tracer) return undefined;
  const parent = propagator.extract(ROOT_CONTEXT, request.headers, headerGetter);
  const attributes: Attributes = {
    [ATTR_HTTP_REQUEST_METHOD]: 'POST',
    [ATTR_HTTP_ROUTE]: route,
    [ATTR_URL_PATH]: route,
    [ATTR_URL_SCHEME]: 'http',
    [ATTR_NETWORK_PROTOCOL_VERSION]: request.httpVersion,
  };
  if (request.socket.remoteAddress) attributes[ATTR_CLIENT_ADDRESS] = request.socket.remoteAddress;
  const userAgent = request.headers['user-agent'];
  if (userAgent) attributes[ATTR_USER_AGENT_ORIGINAL] = userAgent;
  const span = tracer.startSpan(`POST ${route}`, { kind: SpanKind.SERVER, attributes }, parent);
  const context = trace.setSpan(parent, span);
  const traceContext = traceContextField(context);
  return {
    stored: traceContext ? { traceContext } : {},
    logFields: { trace_id: span.spanContext().traceId },
    storing: (work) => storeSpan(context, work),
    end(facts, failure) {
      if (span.isRecording()) {
        span.setAttributes({ [ATTR_HTTP_RESPONSE_STATUS_CODE]: facts.status, [OUTCOME]: facts.outcome });
        if (facts.callbackId) span.setAttribute(CALLBACK_ID, facts.callbackId);
        if (facts.event) span.setAttribute(CALLBACK_EVENT, facts.event);
        if (facts.appId) span.setAttribute(CALLBACK_APP_ID, facts.appId);
        // An HTTP server's span is an error for 5xx only: a refused callback is the sender's fault.
        if (facts.status >= 500) markFailed(span, facts.outcome, failure);
      }
      span.end();
    },
  };
}

async function storeSpan<T>(parent: Context, work: () => Promise<T>): Promise<T> {
  const span = activeTracer()?.startSpan('store', { kind: SpanKind.CLIENT, attributes: { [ATTR_DB_SYSTEM_NAME]: 'redis' } }, parent);
  try {
    const result = await work();
    if (typeof result === 'string') span?.setAttribute(OUTCOME, result);
    return result;
  } catch (error) {
    if (span) markFailed(span, errorType(error), error);
    throw error;
  } finally {
    span?.end();
  }
}
