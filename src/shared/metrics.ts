/**
 * Prometheus metrics, one registry per process, served on the admin listener's /metrics.
 * Names are fixed: dashboards and alerts use them (docs/OPERATIONS.md lists each). Label values are bounded: `event` is a known ZEGO event name, a
 * family (`transcode_*`) or `other`, so a sender cannot blow up the series count with invented events.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { KNOWN_EVENTS, KNOWN_EVENT_FAMILIES } from './events.js';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'zego_relay_' });

/**
 * A bounded label value for an event name: the name of a known event, `transcode_*` or `censor_*`
 * for a family member (their suffixes are open-ended), `other` for the rest, `none` when unknown
 * (a request rejected before its event was read or authenticated).
 */
export function eventLabel(event: string | undefined): string {
  if (!event) return 'none';
  if (KNOWN_EVENTS.has(event)) return event;
  const family = KNOWN_EVENT_FAMILIES.find((prefix) => event.startsWith(prefix));
  return family ? `${family}*` : 'other';
}

/** outcome: stored, duplicate, or the error code of a rejection (bad_signature, unavailable, ...). */
export const callbacksReceived = new Counter({
  name: 'zego_relay_callbacks_received_total',
  help: 'Callbacks received, by event and outcome (stored, duplicate, or the rejection code).',
  labelNames: ['event', 'outcome'] as const,
  registers: [registry],
});

/**
 * Every 4xx answered on the callback path, by error code (a fixed set of the relay's own codes).
 * A rise after a ZEGO change or a new app is the sign to look at `GET /admin/api/rejected`.
 */
export const callbacksRejected = new Counter({
  name: 'zego_relay_callbacks_rejected_total',
  help: 'Requests answered 4xx on the callback path, by reason (the error code).',
  labelNames: ['reason'] as const,
  registers: [registry],
});
// The 401 reasons of a wrong secret, app id or clock exist from the start at 0: Prometheus'
// increase() cannot count the first refusals of a series that appears with them, and the alert
// on refused callbacks (deploy/prometheus/alerts.yml) must see one callback refused after a restart.
for (const reason of ['unknown_app', 'bad_signature', 'stale_timestamp']) callbacksRejected.inc({ reason }, 0);

/** Samples of rejected requests that could not be written to Redis (the answer was not affected). */
export const rejectedSamplesDropped = new Counter({
  name: 'zego_relay_rejected_samples_dropped_total',
  help: 'Samples of rejected requests not kept (Redis failed or too many writes were pending).',
  registers: [registry],
});

export const callbacksUnrouted = new Counter({
  name: 'zego_relay_callbacks_unrouted_total',
  help: 'Stored callbacks that matched no target (kept in the unrouted queue).',
  labelNames: ['event'] as const,
  registers: [registry],
});

/** outcome: delivered, retry (failed attempt, will retry), dead (dead-lettered, a 410 included). */
export const deliveries = new Counter({
  name: 'zego_relay_deliveries_total',
  help: 'Delivery attempts, by target and outcome (delivered, retry, dead).',
  labelNames: ['target', 'outcome'] as const,
  registers: [registry],
});

export const deliveryDuration = new Histogram({
  name: 'zego_relay_delivery_duration_seconds',
  help: 'Duration of one delivery attempt (request to response or error), by target.',
  labelNames: ['target'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

/** Set on each scrape by the admin listener from BullMQ's job counts. */
export const queueJobs = new Gauge({
  name: 'zego_relay_queue_jobs',
  help: 'Jobs per target queue and state (waiting, active, delayed, completed, failed, prioritized).',
  labelNames: ['target', 'state'] as const,
  registers: [registry],
});

export const deadLetters = new Gauge({
  name: 'zego_relay_dead_letters',
  help: 'Dead-lettered deliveries kept per target (BullMQ failed jobs).',
  labelNames: ['target'] as const,
  registers: [registry],
});

/** Set on each scrape: 1 while the target's breaker is open or an operator paused it. */
export const targetOpen = new Gauge({
  name: 'zego_relay_target_open',
  help: '1 while the target is not being delivered to: its breaker is open or an operator paused it; else 0.',
  labelNames: ['target'] as const,
  registers: [registry],
});

/** Set on each scrape: grows while a target is held or cannot keep up. */
export const oldestWaiting = new Gauge({
  name: 'zego_relay_oldest_waiting_seconds',
  help: 'Seconds since the callback next in line for the target was received (0 when none waits).',
  labelNames: ['target'] as const,
  registers: [registry],
});

export const redisUp = new Gauge({
  name: 'zego_relay_redis_up',
  help: '1 when Redis answered the last check, else 0.',
  registers: [registry],
});

/** Set on each scrape: entries in the intake logs (acknowledged to ZEGO, not yet in their targets' queues). */
export const intakePending = new Gauge({
  name: 'zego_relay_intake_pending',
  help: 'Callbacks acknowledged to ZEGO but not yet routed to their targets\' queues (intake log length).',
  registers: [registry],
});

export const routerBatchSize = new Histogram({
  name: 'zego_relay_router_batch_size',
  help: 'Callbacks per router batch (intake entries routed to their targets\' queues in one step).',
  buckets: [1, 5, 10, 25, 50, 100, 200, 500, 1000],
  registers: [registry],
});

export const routerBatchDuration = new Histogram({
  name: 'zego_relay_router_batch_duration_seconds',
  help: 'Time to route one batch: queue the delivery jobs of every callback in it, then acknowledge them.',
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [registry],
});

/** Set on each scrape, for targets with `ordering`: deliveries held behind an earlier one of their key. */
export const orderingHeld = new Gauge({
  name: 'zego_relay_ordering_held',
  help: 'Deliveries of an ordered target waiting behind an earlier delivery of their key.',
  labelNames: ['target'] as const,
  registers: [registry],
});

/** What the receiver's outage spool holds: callbacks acknowledged to ZEGO, not yet in Redis. */
export const spoolCallbacks = new Gauge({
  name: 'zego_relay_spool_callbacks',
  help: 'Callbacks in the receiver\'s outage spool: acknowledged to ZEGO while Redis could not confirm them, not yet drained into Redis.',
  registers: [registry],
});

export const spoolBytes = new Gauge({
  name: 'zego_relay_spool_bytes',
  help: 'Bytes of the receiver\'s outage spool files on disk (spool.maxBytes is the most they may hold).',
  registers: [registry],
});

export const spooledTotal = new Counter({
  name: 'zego_relay_spooled_total',
  help: 'Callbacks answered 200 from the receiver\'s outage spool (fsynced there because Redis could not confirm the write).',
  registers: [registry],
});

/** Intake entries a router could not route (unreadable, or refused by the queue) and set aside. */
export const intakePoisoned = new Counter({
  name: 'zego_relay_intake_poisoned_total',
  help: 'Intake entries that could not be routed (unreadable, or refused by the queue) and were set aside (zego-relay poisoned lists them).',
  registers: [registry],
});
