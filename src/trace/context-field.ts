/**
 * The trace context of a callback as one plain string field, so it travels with the callback's
 * data (CallbackToStore, the intake entry, DeliveryJobData) through Redis, the spool and every
 * later process without them knowing about tracing: the W3C `traceparent` of the callback's
 * SERVER span, then, when there is one, a space and its `tracestate` (a traceparent never holds a
 * space). Pure: tested without an SDK.
 */
import { ROOT_CONTEXT, trace, type Context } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

const propagator = new W3CTraceContextPropagator();

/** `traceparent` and, when the context has one, `tracestate`: the headers a target request carries. */
export type TraceHeaders = Readonly<Record<string, string>>;

type Carrier = Record<string, string>;
const setter = { set: (carrier: Carrier, key: string, value: string) => void (carrier[key] = value) };
const getter = {
  get: (carrier: Carrier, key: string) => carrier[key],
  keys: (carrier: Carrier) => Object.keys(carrier),
};

/** The W3C headers of `context`'s span; empty when it has no valid span context. */
export function traceHeaders(context: Context): TraceHeaders {
  const carrier: Carrier = {};
  propagator.inject(context, carrier, setter);
  return carrier;
}

/** The field for `context`'s span, or undefined when it has none. */
export function traceContextField(context: Context): string | undefined {
  const { traceparent, tracestate } = traceHeaders(context);
  if (!traceparent) return undefined;
  return tracestate ? `${traceparent} ${tracestate}` : traceparent;
}

/**
 * The context a field names, as a remote parent; ROOT_CONTEXT for no field or one that is not a
 * valid traceparent (a span under it then starts a trace of its own).
 */
export function contextOfField(field: string | undefined): Context {
  if (!field) return ROOT_CONTEXT;
  const space = field.indexOf(' ');
  const carrier: Carrier = space < 0 ? { traceparent: field } : { traceparent: field.slice(0, space), tracestate: field.slice(space + 1) };
  return propagator.extract(ROOT_CONTEXT, carrier, getter);
}

/** The trace id a field names (32 hex digits), for log lines; undefined when it names none. */
export function traceIdOfField(field: string | undefined): string | undefined {
  if (!field) return undefined;
  const spanContext = trace.getSpanContext(contextOfField(field));
  return spanContext?.traceId;
}
