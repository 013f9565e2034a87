/**
 * What an operator sees of a target: whether it is delivering, paused by an operator (BullMQ's
 * global pause, the same switch as Bull Board's pause button) or held by its open breaker, its
 * queue counts, and how long the next delivery in line has been waiting. Read from Redis on
 * demand by the admin API and the metrics scrape; nothing here changes state.
 */
import type { Queue } from 'bullmq';
import type { Target } from '../config/load.js';
import { displayUrl } from '../lib/redact.js';
import type { BreakerStore } from '../targets/breaker-store.js';
import type { GateStats, KeyGate } from '../targets/key-gate.js';
import type { DeliveryJobData } from '../shared/names.js';

/** `paused` by an operator wins over `open`: it is the one that needs a person to end it. */
export type TargetState = 'delivering' | 'paused' | 'open';

export interface TargetStatus {
  readonly name: string;
  /** The target's URL as displayUrl shows it: no credentials, no query, the path past its first segment masked. */
  readonly url: string;
  readonly state: TargetState;
  readonly waiting: number;
  readonly delayed: number;
  readonly active: number;
  readonly deadLetters: number;
  /** Only for a target with `ordering`: its key fields, keys with a delivery in progress, keys holding later ones, deliveries held. */
  readonly ordering?: { readonly key: readonly string[] } & GateStats;
}

/** A target with its queue and breaker state: what the status reads. */
export interface WatchedTarget {
  readonly target: Target;
  readonly queue: Queue<DeliveryJobData>;
  readonly breaker: BreakerStore;
  /** The key gate of a target with `ordering`. */
  readonly gate?: KeyGate;
}

export async function targetState(watched: WatchedTarget): Promise<TargetState> {
  const [paused, breaker] = await Promise.all([watched.queue.isPaused(), watched.breaker.snapshot()]);
  if (paused) return 'paused';
  return breaker.open ? 'open' : 'delivering';
}

export async function targetStatus(watched: WatchedTarget): Promise<TargetStatus> {
  const [state, counts, gate] = await Promise.all([
    targetState(watched),
    watched.queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'failed'),
    watched.gate?.stats(),
  ]);
  return {
    name: watched.target.name,
    url: displayUrl(watched.target.url),
    state,
    waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
    delayed: counts.delayed ?? 0,
    active: counts.active ?? 0,
    deadLetters: counts.failed ?? 0,
    ...(gate && watched.target.ordering ? { ordering: { key: watched.target.ordering.key, ...gate } } : {}),
  };
}

/**
 * Seconds since the callback next in line was received (0 when nothing waits). It grows while
 * the target is paused, its breaker is open or it cannot keep up: a stuck target shows here long
 * before its dead letters grow.
 */
export async function oldestWaitingSeconds(queue: Queue<DeliveryJobData>, now: number): Promise<number> {
  // `asc`: the end of the list BullMQ takes the next job from.
  const [next] = await queue.getJobs(['wait'], 0, 0, true);
  if (!next) return 0;
  const since = next.data.receivedAt ?? next.timestamp;
  return Math.max(0, (now - since) / 1000);
}
