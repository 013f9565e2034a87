/**
 * The relay's own span attributes (the HTTP and database ones are OpenTelemetry's semantic
 * conventions). docs/OPERATIONS.md#tracing lists each span with its attributes.
 */
export const CALLBACK_ID = 'zego_relay.callback.id';
export const CALLBACK_EVENT = 'zego_relay.callback.event';
export const CALLBACK_APP_ID = 'zego_relay.callback.app_id';
/** The receiver's outcome (`stored`, `duplicate`, an error code) or the store call's. */
export const OUTCOME = 'zego_relay.outcome';
export const TARGET = 'zego_relay.target';
/** 1 on the first try, as `x-relay-attempt`. */
export const ATTEMPT = 'zego_relay.attempt';
/** The attempt's own measure of its request, in ms (the same figure as the delivery's log line). */
export const ATTEMPT_DURATION_MS = 'zego_relay.attempt.duration_ms';
/** False for an answer that is never retried (410): the delivery is dead-lettered. */
export const RETRYABLE = 'zego_relay.retryable';
/** The targets a callback was queued for (`unrouted` when none matched). */
export const TARGETS = 'zego_relay.targets';
export const INTAKE_SHARD = 'zego_relay.intake.shard';
/** Callbacks routed together with this one (one addBulk per queue, one acknowledgement). */
export const BATCH_SIZE = 'zego_relay.batch.size';
