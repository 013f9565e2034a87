/**
 * What the router knows of each target it may make first attempts to: its HTTP client (shared
 * with the target's worker in this process), its breaker, its queue, whether an operator paused
 * it or its breaker is open (re-read from Redis every SWITCH_REFRESH_MS, so a pause or an opening
 * stops first attempts within about that time), and this router's own view of its health
 * (first-attempt-health.ts). `mode()` says what to do with the target's next delivery.
 */
import type { Queue } from 'bullmq';
import type { RelayConfig, Target } from '../../src/config/load.js';
import { createTargetClient, type TargetClient } from '../deliver/attempt.js';
import { TargetBreaker } from '../deliver/breaker.js';
import { BreakerStore } from '../../src/targets/breaker-store.js';
import type { Logger } from '../../src/lib/logger.js';
import { deliveries, deliveryDuration } from '../../src/shared/metrics.js';
import type { DeliveryJobData } from '../../src/shared/names.js';
import type { RedisConnection } from '../../src/redis/connection.js';
import { FirstAttemptHealth, type AttemptHealth, type FirstAttemptMode } from './first-attempt-health.js';

/** How often each target's pause and breaker state is read. */
export const SWITCH_REFRESH_MS = 250;
/**
 * Within this time of an operator's pause (or of the breaker opening in any process) the router
 * starts no new first attempt to the target: the next read, allowing it a round trip of its own.
 * Attempts already running end within `intake.firstAttemptDeadline` (then their jobs hold).
 */
export const SWITCH_SEEN_WITHIN_MS = 2 * SWITCH_REFRESH_MS;
/** A state older than this (Redis slow or away) allows no first attempt. */
const SWITCH_STALE_MS = 1_000;

/** Whether the router makes first attempts to `target` at all (its configuration). */
export function routerAttempts(target: Target): boolean {
  // BullMQ's limiter, the one rate limit shared by every process, counts jobs only.
  return target.directFirstAttempt && !target.rateLimit;
}

/** A turn waiting for a slot; `cancel()` is true when it was still waiting (it will never run). */
export interface SlotTurn {
  cancel(): boolean;
}

/**
 * The router's first attempts in flight to one target, at most `capacity` at once; later ones wait
 * their turn (first come, first served) until their batch gives up on them.
 */
export class AttemptSlots {
  private used = 0;
  private readonly waiting: { run: () => void; state: 'waiting' | 'running' | 'cancelled' }[] = [];
  private waking = false;

  constructor(private readonly capacity: number) {}

  /** Takes a slot now if one is free. */
  tryAcquire(): boolean {
    if (this.used >= this.capacity) return false;
    this.used += 1;
    return true;
  }

  /** Runs `run` with a slot taken, now or once one is free (unless cancelled first). */
  take(run: () => void): SlotTurn {
    if (this.tryAcquire()) {
      run();
      return { cancel: () => false };
    }
    const turn: { run: () => void; state: 'waiting' | 'running' | 'cancelled' } = { run, state: 'waiting' };
    this.waiting.push(turn);
    return {
      cancel: () => {
        if (turn.state !== 'waiting') return false;
        turn.state = 'cancelled';
        return true;
      },
    };
  }

  /**
   * Gives a slot back. Waiters get the free slots together, once the event loop has run its I/O:
   * by then the finished request's socket is back in the agent (Node frees it on the next tick), so
   * the next request reuses it instead of queueing behind it, and requests go out in waves. Measured
   * in the relay under load, handing the slot on at once cost about a quarter more CPU per delivery.
   */
  release(): void {
    this.used -= 1;
    if (this.waking || this.waiting.length === 0) return;
    this.waking = true;
    setImmediate(() => {
      this.waking = false;
      while (this.used < this.capacity && this.waiting.length > 0) {
        const turn = this.waiting.shift()!;
        if (turn.state === 'cancelled') continue;
        turn.state = 'running';
        this.used += 1;
        turn.run();
      }
    });
  }
}

export class TargetLane {
  readonly health = new FirstAttemptHealth();
  /** The target's series of the delivery metrics, looked up once. */
  readonly metrics: {
    readonly outcome: Record<'delivered' | 'retry' | 'dead', { inc(): void }>;
    readonly duration: { observe(seconds: number): void };
  };
  /** `concurrency` first attempts at once (the worker's share the same connections: the client's agent). */
  readonly slots: AttemptSlots;
  readonly breaker: TargetBreaker | undefined;
  private readonly breakerStore: BreakerStore | undefined;
  private readonly stopListeners = new Set<() => void>();
  /** Not paused and breaker not open, as last read; and when. */
  private open = false;
  private readAt = 0;

  constructor(
    readonly target: Target,
    readonly client: TargetClient,
    readonly queue: Queue<DeliveryJobData>,
    connection: RedisConnection,
    prefix: string,
    readonly log: Logger,
  ) {
    this.slots = new AttemptSlots(target.concurrency);
    this.metrics = {
      outcome: {
        delivered: deliveries.labels({ target: target.name, outcome: 'delivered' }),
        retry: deliveries.labels({ target: target.name, outcome: 'retry' }),
        dead: deliveries.labels({ target: target.name, outcome: 'dead' }),
      },
      duration: deliveryDuration.labels({ target: target.name }),
    };
    this.breakerStore = target.breaker ? new BreakerStore(connection, prefix, target.name) : undefined;
    this.breaker = target.breaker && this.breakerStore ? new TargetBreaker(this.breakerStore, target.breaker, log) : undefined;
  }

  /** What to do with the target's next delivery now; a 'probe' holds a slot already. */
  mode(): FirstAttemptMode {
    if (!this.open || Date.now() - this.readAt > SWITCH_STALE_MS) return 'skip';
    const mode = this.health.next();
    if (mode !== 'probe' || this.slots.tryAcquire()) return mode;
    this.health.probeNotMade();
    return 'skip';
  }

  /**
   * Calls `listener` whenever first attempts to the target get stopped (from a microtask, never
   * inside the call that stopped them). Returns how to stop listening.
   */
  onStopped(listener: () => void): () => void {
    this.stopListeners.add(listener);
    return () => this.stopListeners.delete(listener);
  }

  /** A first attempt ended; logs when this stopped first attempts or let them go again. */
  ended(health: AttemptHealth, probe: boolean): void {
    if (!this.health.ended(health, probe)) return;
    if (this.health.stopped) queueMicrotask(() => {
      for (const listener of [...this.stopListeners]) listener();
    });
    if (this.health.stopped) this.log.warn({ firstAttempts: 'stopped' }, 'first attempts by the router stopped: the target failed or answered after the deadline several times in a row; its deliveries go through jobs, one probe at a time');
    else this.log.info({ firstAttempts: 'resumed' }, 'first attempts by the router resumed: the target answered in time');
  }

  /** Reads the pause and the breaker state. */
  async refresh(): Promise<void> {
    const [paused, breaker] = await Promise.all([this.queue.isPaused(), this.breakerStore?.snapshot()]);
    this.open = !paused && !breaker?.open;
    this.readAt = Date.now();
  }
}

/** The lanes of every target the router attempts, refreshed in the background. */
export class TargetLanes {
  readonly lanes: ReadonlyMap<string, TargetLane>;
  private readonly ownClients: TargetClient[] = [];
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private failing = false;
  readonly ready: Promise<void>;

  constructor(
    config: RelayConfig,
    queues: ReadonlyMap<string, Queue<DeliveryJobData>>,
    clients: ReadonlyMap<string, TargetClient> | undefined,
    connection: RedisConnection,
    private readonly log: Logger,
  ) {
    const lanes = new Map<string, TargetLane>();
    for (const target of config.targets.filter(routerAttempts)) {
      let client = clients?.get(target.name);
      if (!client) {
        client = createTargetClient(target, config.delivery);
        this.ownClients.push(client);
      }
      lanes.set(target.name, new TargetLane(target, client, queues.get(target.name)!, connection, config.redis.prefix, log.child({ target: target.name })));
    }
    this.lanes = lanes;
    this.ready = lanes.size > 0 ? this.refresh() : Promise.resolve();
    if (lanes.size > 0) this.timer = setInterval(() => void this.refresh(), SWITCH_REFRESH_MS);
  }

  /** Stops reading; closes the clients made here. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.refreshing;
    for (const client of this.ownClients) client.close();
  }

  /** Never throws: a failure is reported once; the states go stale and first attempts stop. */
  private refresh(): Promise<void> {
    this.refreshing ??= Promise.all([...this.lanes.values()].map((lane) => lane.refresh()))
      .then(
        () => {
          if (this.failing) this.log.info('reading the targets\' pause and breaker state again');
          this.failing = false;
        },
        (error: unknown) => {
          if (!this.failing) this.log.warn({ err: error }, 'cannot read the targets\' pause and breaker state; no first attempts by the router meanwhile');
          this.failing = true;
        },
      )
      .finally(() => {
        this.refreshing = undefined;
      });
    return this.refreshing;
  }
}
