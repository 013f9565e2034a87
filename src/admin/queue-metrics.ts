/**
 * Refreshes the queue gauges of src/shared/metrics.ts from BullMQ's job counts, once per scrape.
 * A Redis outage must not hang a scrape: the whole refresh is bounded, and when Redis does not
 * answer in time `redis_up` drops to 0 and the queue series are removed (absent = unknown) rather
 * than left showing numbers that may no longer be true.
 */
import type { Queue } from 'bullmq';
import { deadLetters, intakePending, oldestWaiting, orderingHeld, queueJobs, redisUp, targetOpen } from '../shared/metrics.js';
import { oldestWaitingSeconds, targetState, type WatchedTarget } from './target-status.js';
import { withTimeout } from '../lib/with-timeout.js';

/** How long a scrape waits for Redis before reporting it down. */
export const QUEUE_METRICS_TIMEOUT_MS = 1_000;

/** The BullMQ states exported as `zego_relay_queue_jobs{state}`; `failed` are the dead letters. */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed'] as const;

/** Thrown (and caught) when Redis did not answer within the scrape's bound. */
export class ScrapeTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`Redis did not answer the queue counts within ${timeoutMs} ms`);
    this.name = 'ScrapeTimeoutError';
  }
}

/**
 * Keeps the queue gauges current. Concurrent scrapes share one refresh, so a burst of scrapers
 * does not multiply the load on Redis.
 */
export class QueueMetricsCollector {
  private inFlight: Promise<void> | undefined;

  /**
   * `queues` maps the `target` label value to its queue (the unrouted queue under `unrouted`);
   * `targets` are the delivery targets whose state and oldest waiting delivery are exported.
   */
  constructor(
    private readonly queues: ReadonlyMap<string, Queue>,
    /** Reads `zego_relay_intake_pending` (the intake logs' length). */
    private readonly intakeLength: () => Promise<number>,
    private readonly targets: readonly WatchedTarget[] = [],
    private readonly timeoutMs = QUEUE_METRICS_TIMEOUT_MS,
  ) {}

  /**
   * Sets `queue_jobs`, `dead_letters`, `target_open`, `oldest_waiting_seconds`, `ordering_held`,
   * `intake_pending` and `redis_up`; never rejects, never takes much longer than the timeout.
   */
  refresh(): Promise<void> {
    this.inFlight ??= this.collect().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async collect(): Promise<void> {
    try {
      const now = Date.now();
      const [counts, targets, pending] = await withTimeout(
        Promise.all([
          Promise.all([...this.queues].map(async ([label, queue]) => [label, await queue.getJobCounts(...QUEUE_STATES)] as const)),
          Promise.all(this.targets.map(async (watched) => [watched.target.name, await targetState(watched), await oldestWaitingSeconds(watched.queue, now), await watched.gate?.stats()] as const)),
          this.intakeLength(),
        ]),
        this.timeoutMs,
        () => new ScrapeTimeoutError(this.timeoutMs),
      );
      intakePending.set(pending);
      for (const [label, byState] of counts) {
        for (const state of QUEUE_STATES) queueJobs.set({ target: label, state }, byState[state] ?? 0);
        deadLetters.set({ target: label }, byState.failed ?? 0);
      }
      for (const [name, state, oldest, gate] of targets) {
        targetOpen.set({ target: name }, state === 'delivering' ? 0 : 1);
        oldestWaiting.set({ target: name }, oldest);
        if (gate) orderingHeld.set({ target: name }, gate.held);
      }
      redisUp.set(1);
    } catch {
      for (const gauge of [queueJobs, deadLetters, targetOpen, oldestWaiting, intakePending, orderingHeld]) gauge.reset();
      redisUp.set(0);
    }
  }
}
