/**
 * The router's part in ordered delivery (docs/RELIABILITY.md, "Ordered delivery per key"): enter a
 * batch's keyed deliveries into their targets' key gates before their jobs are queued (a released
 * one is queued waiting, a held one delayed, one finished before not at all), and once the batch is
 * acknowledged record the shard's new watermark and promote what it released. A loop does the same
 * for every shard about once a second, so an idle shard never holds the others' keys back.
 * Made only when some target has `ordering`: a relay without one runs none of this.
 */
import type { JobsOptions, Queue } from 'bullmq';
import type { RelayConfig, Target } from '../../src/config/load.js';
import { HELD_DELAY_MS, KeyGate, gateSettings, promoteHeld, type GateMember } from '../../src/targets/key-gate.js';
import { entryPosition, watermarkPosition } from '../../src/targets/order-position.js';
import type { Logger } from '../../src/lib/logger.js';
import { intakeKeys, type DeliveryJobData } from '../../src/shared/names.js';
import type { RedisConnection } from '../../src/redis/connection.js';
import { EnteredRanges } from './entered-ranges.js';
import { readWatermark } from './intake-watermark.js';

/** How often every shard's watermark is read when no batch moved it. */
const IDLE_WATERMARK_MS = 1_000;

/** A batch as the router took it from one shard. */
export interface RouterBatch {
  readonly shard: number;
  /** Read as new entries ('>'): one contiguous range of the stream, nothing in it routed by another. */
  readonly fresh: boolean;
  /** Its first and last entry id. */
  readonly first: string;
  readonly last: string;
  /** One entry fanned out on its own after its batch failed (route-batch.ts). @defaultValue false */
  readonly alone?: boolean;
}

/** A keyed delivery of the batch for an ordered target. */
export interface OrderedDelivery {
  readonly target: Target;
  readonly data: DeliveryJobData;
  readonly key: string;
  readonly entryId: string;
}

/** A job to add, as the fan-out adds every job. */
export interface PlannedJob {
  readonly queue: string;
  readonly data: DeliveryJobData;
  readonly opts: JobsOptions;
  /** An ordered delivery that is its key's released head: the router may attempt it itself. */
  readonly released?: boolean;
  /** A line for the job's log once it is queued (Bull Board's log tab): a first attempt that failed. */
  readonly logLine?: string;
}

export class OrderedRouting {
  private readonly gates: ReadonlyMap<string, KeyGate>;
  /** Fresh batches of this process already entered: the watermarks skip them. */
  private readonly entered = new EnteredRanges();
  /** Per shard, the fresh batches of this process being entered now. */
  private readonly entering = new Map<number, Set<Promise<unknown>>>();
  private idleTimer: NodeJS.Timeout | undefined;
  private idleRun: Promise<void> | undefined;
  private failing = false;

  constructor(
    private readonly config: RelayConfig,
    private readonly connection: RedisConnection,
    private readonly queues: ReadonlyMap<string, Queue<DeliveryJobData>>,
    private readonly log: Logger,
  ) {
    this.gates = new Map(
      config.targets
        .filter((target) => target.ordering)
        .map((target) => [target.name, new KeyGate(connection, config.redis.prefix, target.name, gateSettings(config))]),
    );
  }

  /** A gate for each ordered target; undefined when there is none (the router then skips all this). */
  static forConfig(config: RelayConfig, connection: RedisConnection, queues: ReadonlyMap<string, Queue<DeliveryJobData>>, log: Logger): OrderedRouting | undefined {
    return config.targets.some((target) => target.ordering) ? new OrderedRouting(config, connection, queues, log) : undefined;
  }

  /**
   * Enters the batch's keyed deliveries (every gate at once) and says how to queue each: waiting
   * when released, delayed (held) behind its key's head, not at all when it finished before.
   */
  async enter(deliveries: readonly OrderedDelivery[], batch: RouterBatch, jobOptions: (target: Target, jobId: string) => JobsOptions): Promise<PlannedJob[]> {
    if (deliveries.length === 0) {
      // Nothing to enter: entered as it is, whatever comes before it.
      if (batch.fresh) this.entered.add(batch.shard, batch);
      return [];
    }
    if (!batch.fresh) return this.enterBatch(deliveries, batch, jobOptions);
    // A sibling lane's batch read just before this one is entered first, so this one's watermark
    // can look past it rather than stop at it (a failed one is only not skipped).
    const entering = this.entering.get(batch.shard) ?? new Set<Promise<unknown>>();
    this.entering.set(batch.shard, entering);
    const earlier = [...entering];
    const mine = Promise.allSettled(earlier).then(() => this.enterBatch(deliveries, batch, jobOptions));
    entering.add(mine);
    try {
      return await mine;
    } finally {
      entering.delete(mine);
    }
  }

  private async enterBatch(deliveries: readonly OrderedDelivery[], batch: RouterBatch, jobOptions: (target: Target, jobId: string) => JobsOptions): Promise<PlannedJob[]> {
    const own = batch.fresh
      ? { shard: batch.shard, watermark: watermarkPosition(await readWatermark(this.connection, this.stream(batch.shard), [...this.entered.of(batch.shard), batch]), batch.shard) }
      : undefined;
    const byTarget = new Map<string, OrderedDelivery[]>();
    for (const delivery of deliveries) {
      const list = byTarget.get(delivery.target.name);
      if (list) list.push(delivery);
      else byTarget.set(delivery.target.name, [delivery]);
    }
    const planned = await Promise.all(
      [...byTarget].map(async ([name, targetDeliveries]) => {
        const members: GateMember[] = targetDeliveries.map((delivery) => ({
          key: delivery.key,
          position: entryPosition(delivery.entryId, batch.shard),
          jobId: delivery.data.callbackId,
        }));
        const { statuses, released } = await this.gate(name).enter(members, own);
        await this.promote(name, released);
        return targetDeliveries.flatMap((delivery, index): PlannedJob[] => {
          const status = statuses[index];
          if (status === 'done') {
            this.log.info({ callbackId: delivery.data.callbackId, target: name }, 'ordered delivery finished before; not queued again');
            return [];
          }
          const opts = jobOptions(delivery.target, delivery.data.callbackId);
          const data = { ...delivery.data, order: { key: delivery.key, at: members[index]!.position } };
          return [status === 'released' ? { queue: name, data, opts, released: true } : { queue: name, data, opts: { ...opts, delay: HELD_DELAY_MS } }];
        });
      }),
    );
    // Every gate holds the batch now: a sibling lane's watermark may look past it.
    if (batch.fresh) this.entered.add(batch.shard, batch);
    return planned.flat();
  }

  /**
   * After a batch of `shard` was acknowledged (or when nothing moved for a while): records the
   * shard's watermark in every gate and promotes what that released. Never throws: a failure is
   * reported once, and the next call (or the reconciler) releases what this one could not.
   */
  async settle(shard: number): Promise<void> {
    try {
      const watermark = watermarkPosition(await readWatermark(this.connection, this.stream(shard), this.entered.of(shard)), shard);
      await Promise.all([...this.gates].map(async ([name, gate]) => this.promote(name, await gate.advance(shard, watermark))));
      if (this.failing) this.log.info('ordered deliveries released again');
      this.failing = false;
    } catch (error) {
      if (!this.failing) this.log.warn({ err: error }, 'cannot release ordered deliveries for now; retried every second');
      this.failing = true;
    }
  }

  /**
   * A head the router delivered on its first attempt (its job removed, or never queued): drops it
   * from the gate and returns the next delivery of its key if that is now released (to promote
   * once its job is queued).
   */
  async delivered(targetName: string, key: string, jobId: string): Promise<string | undefined> {
    return this.gate(targetName).finish(key, jobId, 'delivered');
  }

  /** Heads of `targetName` the router delivered, in one call: the next delivery of each key now released, if any. */
  async deliveredAll(targetName: string, heads: readonly { key: string; jobId: string }[]): Promise<(string | undefined)[]> {
    return this.gate(targetName).finishMany(heads, 'delivered');
  }

  /**
   * A head whose first attempt failed and whose job waits for its retry: admitted (running), as a
   * worker's retrying head is, so the reconciler leaves its retry delay alone.
   */
  async retrying(targetName: string, key: string, jobId: string): Promise<void> {
    await this.gate(targetName).admit(key, jobId);
  }

  /** Moves released deliveries of `targetName` whose jobs are delayed (held) to waiting. */
  async release(targetName: string, jobIds: readonly string[]): Promise<void> {
    await this.promote(targetName, jobIds);
  }

  /** Reads every shard's watermark about once a second until stop(). */
  start(): void {
    this.idleTimer = setInterval(() => {
      this.idleRun ??= (async () => {
        for (let shard = 0; shard < this.config.intake.shards; shard += 1) await this.settle(shard);
      })().finally(() => {
        this.idleRun = undefined;
      });
    }, IDLE_WATERMARK_MS);
  }

  async stop(): Promise<void> {
    clearInterval(this.idleTimer);
    await this.idleRun;
  }

  private gate(name: string): KeyGate {
    const gate = this.gates.get(name);
    if (!gate) throw new Error(`no key gate for ${name}`);
    return gate;
  }

  private async promote(name: string, jobIds: readonly string[]): Promise<void> {
    const queue = this.queues.get(name);
    if (!queue || jobIds.length === 0) return;
    await Promise.all(jobIds.map((jobId) => promoteHeld(queue, jobId)));
  }

  private stream(shard: number): string {
    return intakeKeys(this.config.redis.prefix, shard).stream;
  }
}
