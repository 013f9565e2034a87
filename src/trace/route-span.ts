/**
 * The router's work on a batch, as one span per callback in the callback's trace (a child of its
 * SERVER span, through the context field): from reading the batch to acknowledging it. Callbacks
 * stored without a trace context get none.
 */
import { SpanKind, type Span } from '@opentelemetry/api';
import { BATCH_SIZE, CALLBACK_APP_ID, CALLBACK_EVENT, CALLBACK_ID, INTAKE_SHARD, TARGETS } from './attributes.js';
import { contextOfField } from './context-field.js';
import { errorType, markFailed } from './span-failure.js';
import { activeTracer } from './tracing.js';

export interface RoutedCallback {
  readonly callbackId: string;
  readonly event: string;
  readonly appId: string;
  readonly traceContext?: string | undefined;
}

export interface RouteSpans {
  /** Ends every span of the batch; `error` when routing it failed (it is tried again). */
  end(error?: unknown): void;
}

/** Spans for the callbacks of a batch; undefined when tracing is off or none has a trace. */
export function startRouteSpans(
  entries: readonly { readonly data: RoutedCallback | undefined }[],
  facts: { shard: number; targetsOf: (callback: RoutedCallback) => readonly string[] },
): RouteSpans | undefined {
  const tracer = activeTracer();
  if (!tracer) return undefined;
  const spans: Span[] = [];
  for (const { data: callback } of entries) {
    if (!callback?.traceContext) continue;
    const span = tracer.startSpan('route', { kind: SpanKind.CONSUMER }, contextOfField(callback.traceContext));
    if (span.isRecording()) {
      span.setAttributes({
        [CALLBACK_ID]: callback.callbackId,
        [CALLBACK_EVENT]: callback.event,
        [CALLBACK_APP_ID]: callback.appId,
        [TARGETS]: [...facts.targetsOf(callback)],
        [INTAKE_SHARD]: facts.shard,
        [BATCH_SIZE]: entries.length,
      });
    }
    spans.push(span);
  }
  if (spans.length === 0) return undefined;
  return {
    end(error) {
      for (const span of spans) {
        if (error !== undefined) markFailed(span, errorType(error), error);
        span.end();
      }
    },
  };
}
