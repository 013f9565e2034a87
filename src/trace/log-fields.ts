/** The `trace_id` of a callback's log lines while tracing is on: logs and traces join on it. */
import { traceIdOfField } from './context-field.js';
import { activeTracer } from './tracing.js';

const NONE = Object.freeze({});

/** `{ trace_id }` of the callback whose context field is `traceContext`; nothing when tracing is off. */
export function traceLogFields(traceContext: string | undefined): { trace_id?: string } {
  if (!traceContext || !activeTracer()) return NONE;
  const traceId = traceIdOfField(traceContext);
  return traceId ? { trace_id: traceId } : NONE;
}
