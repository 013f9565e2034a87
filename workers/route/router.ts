/**
 * The router (fan-out) stage, in the worker role: it reads the intake log in batches with a
 * consumer group, queues each callback's delivery job for every matching target (or the unrouted
 * queue) through BullMQ's public `Queue.addBulk`, then acknowledges and deletes the entries.
 *
 * Safe to run in every worker process at once: the consumer group hands each entry to one router.
 * A router that dies mid-batch leaves its entries pending in the group; another router claims them
 * (XAUTOCLAIM) after `intake.claimAfter` and routes them again. The job id is the callback id, so
 * routing a callback twice never makes two jobs for one target while the first is kept.
 *
 * It heals itself: a batch that cannot be queued stays pending and this loop reads its own
 * pending entries again at once after the pause, rather than waiting for another router's claim;
 * an entry that can never be routed is set aside (route-batch.ts) so it cannot hold its batch; and
 * a stream or consumer group that vanished (Redis restarted without persistence, FLUSHALL, a
 * failover to an empty replica) is created again, reading whatever stream is there from its start.
 *
 * A target with `ordering` gets its keyed deliveries through its key gate (ordered-routing.ts): held
 * ones are queued delayed behind their key's head, and after each batch is acknowledged the shard's
 * watermark releases what waited for it.
 *
 * A target with `directFirstAttempt` (the default) gets no job for a delivery its first attempt
 * delivered: the router makes that attempt itself (first-attempts.ts) and queues a job only for
 * what it did not deliver; an ordered target's released heads likewise. The batch is acknowledged
 * once every first attempt ended or was handed to a job, so a crash mid-batch loses nothing.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { JobsOptions, Queue } from 'bullmq';
import type { RelayConfig } from '../../src/config/load.js';
import { deliveryJobOptions, unroutedJobOptions } from './job-options.js';
import type { Logger } from '../../src/lib/logger.js';
import type { TargetClient } from '../deliver/attempt.js';
import { DeliveryRecorder } from '../../src/targets/delivery-record.js';
import { callbacksUnrouted, eventLabel, intakePoisoned, routerBatchDuration, routerBatchSize } from '../../src/shared/metrics.js';
import { ROUTER_GROUP, UNROUTED_QUEUE, intakeKeys, type DeliveryJobData } from '../../src/shared/names.js';
import { setAsidePoisoned } from '../../src/intake/poisoned-entries.js';
import { closeQueues, openQueues } from '../../src/redis/queues.js';
import { createWorkerConnection, type RedisConnection } from '../../src/redis/connection.js';
import { workerOutageLog, type RedisOutageLog } from '../../src/redis/outage.js';
import { startRouteSpans } from '../../src/trace/route-span.js';
import { FirstAttempts, type FirstAttemptDelivery } from './first-attempts.js';
import { entriesOfClaim, entriesOfRead, type IntakeEntry } from './intake-entry.js';
import { matchTargets } from '../../src/targets/match.js';
import { OrderedRouting, type OrderedDelivery, type PlannedJob, type RouterBatch } from './ordered-routing.js';
import { bodyMembers, orderingKey } from './ordering-key.js';
import { routeBatch, type AfterAck, type RoutableEntry, type UnroutableEntry } from './route-batch.js';

/** How long one XREADGROUP waits for new entries; also bounds how long close() waits for a reader. */
const BLOCK_MS = 1_000;
/** Pause after a failed step (Redis down), so a loop never spins. */
const RETRY_PAUSE_MS = 500;
/**
 * Read-route-acknowledge loops per shard and process. Two keep Redis busy while the other loop
 * builds its jobs, about doubling what one router moves when a burst has filled the intake.
 */
const LANES_PER_SHARD = 2;

export interface IntakeRouter {
  /** Resolves once every shard's consumer group exists (the router is reading). */
  ready(): Promise<void>;
  /** Finishes the batch in hand (unacknowledged entries are claimed by another router), then disconnects. */
  close(): Promise<void>;
}

export interface RouterOptions {
  logger: Logger;
  /** The consumer name in the group. @defaultValue host-pid-random */
  consumer?: string;
  /** The targets' HTTP clients, shared with this process's workers. @defaultValue the router's own */
  clients?: ReadonlyMap<string, TargetClient>;
}

/** Starts routing every intake shard of `config`. */
export function startRouter(config: RelayConfig, options: RouterOptions): IntakeRouter {
  const log = options.logger.child({ component: 'router' });
  const consumer = options.consumer ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  // Redis going away and coming back is reported once for the whole worker role (redis-outage.ts).
  const outage = workerOutageLog(options.logger);
  const queueConnection = createWorkerConnection(config.redis, { name: 'router-queues', outage });
  const queues = openQueues(config, queueConnection);
  const jobOptions = new Map(config.targets.map((target) => [target.name, deliveryJobOptions(target, config.retention)]));
  const ordering = OrderedRouting.forConfig(config, queueConnection, queues, log);
  const recorder = new DeliveryRecorder(queueConnection, config.redis.prefix, config.retention.completedCount, log);
  const firstAttempts = config.targets.some((target) => target.directFirstAttempt)
    ? new FirstAttempts({ config, queues, jobOptions, clients: options.clients, connection: queueConnection, recorder, log, ordering })
    : undefined;
  const fanOut: FanOut = (entries, batch) => queueJobs(entries, batch, { config, queues, jobOptions, log, ordering, firstAttempts, recorder });
  // A consumer name per lane: a lane that reads its own pending entries again gets only its own,
  // never a batch another lane of this process has in hand.
  const shards = Array.from({ length: config.intake.shards * LANES_PER_SHARD }, (_unused, lane) =>
    new ShardLoop(config, Math.floor(lane / LANES_PER_SHARD), `${consumer}:${lane % LANES_PER_SHARD}`, fanOut, log, outage),
  );
  for (const loop of shards) loop.start();
  ordering?.start();
  return {
    ready: () => Promise.all([...shards.map((loop) => loop.ready), firstAttempts?.ready()]).then(() => undefined),
    async close() {
      await Promise.all(shards.map((loop) => loop.stop()));
      // First attempts still running get the shutdown's time to answer, as a worker's deliveries do.
      await firstAttempts?.close(config.delivery.shutdownTimeout);
      await recorder.flush();
      await ordering?.stop();
      await closeQueues(queues, queueConnection, 'disconnect');
    },
  };
}

/**
 * Queues the jobs of a batch; resolves with what to run once the batch is acknowledged (only
 * with an ordered target: record the shard's watermark and release what waited for it).
 */
type FanOut = (entries: RoutableEntry[], batch: RouterBatch) => Promise<AfterAck | undefined>;

interface FanOutDeps {
  config: RelayConfig;
  queues: ReadonlyMap<string, Queue<DeliveryJobData>>;
  jobOptions: ReadonlyMap<string, JobsOptions>;
  log: Logger;
  /** Only when a target has `ordering`. */
  ordering: OrderedRouting | undefined;
  /** Only when a target allows first attempts by the router. */
  firstAttempts: FirstAttempts | undefined;
  recorder: DeliveryRecorder;
}

/** The queues a callback goes to: its matching targets, else the unrouted queue (for its route span). */
function routedTo(config: RelayConfig, data: Pick<DeliveryJobData, 'event' | 'appId'>): string[] {
  const targets = matchTargets(config.targets, data.event, data.appId).map((target) => target.name);
  return targets.length > 0 ? targets : [UNROUTED_QUEUE];
}

/**
 * Routes a batch: the router's first attempts where a target allows them, a job for everything
 * else (one addBulk per queue, all queues at once), the record of what was delivered. Resolves
 * once all of it is in Redis: only then may the batch be acknowledged.
 */
async function queueJobs(entries: RoutableEntry[], batch: RouterBatch, deps: FanOutDeps): Promise<AfterAck | undefined> {
  const { ordering } = deps;
  // An entry fanned out alone after its batch failed goes as jobs only: the batch's first
  // attempts may already have been made (route-batch.ts).
  const firstAttempts = batch.alone ? undefined : deps.firstAttempts;
  const byQueue = new Map<string, PlannedJob[]>();
  const add = (job: PlannedJob) => {
    const jobs = byQueue.get(job.queue) ?? [];
    jobs.push(job);
    byQueue.set(job.queue, jobs);
  };
  const ordered: OrderedDelivery[] = [];
  const direct: FirstAttemptDelivery[] = [];
  for (const { entryId, data } of entries) {
    const targets = matchTargets(deps.config.targets, data.event, data.appId);
    let members: ReturnType<typeof bodyMembers> | null = null;
    for (const target of targets) {
      if (target.ordering) {
        members ??= bodyMembers(data.body);
        const key = orderingKey(members, data.appId, target.ordering.key);
        if (key !== undefined) {
          ordered.push({ target, data, key, entryId });
          continue;
        }
      }
      if (firstAttempts?.attempts(target.name)) direct.push({ target, data });
      else add({ queue: target.name, data, opts: { ...deps.jobOptions.get(target.name), jobId: data.callbackId } });
    }
    if (targets.length === 0) {
      // Kept, never dropped: it stays visible in Bull Board within retention.unroutedAge and unroutedCount.
      add({ queue: UNROUTED_QUEUE, data, opts: unroutedJobOptions(deps.config.retention, data.callbackId) });
      callbacksUnrouted.inc({ event: eventLabel(data.event) });
    }
  }
  if (ordering) {
    const planned = await ordering.enter(ordered, batch, (target, jobId) => ({ ...deps.jobOptions.get(target.name), jobId }));
    // A released head attempted here takes its key's later deliveries of this batch along: each is
    // attempted once the one before it was delivered (first-attempts.ts), a job only if not. Only
    // in a fresh batch: one routed before (taken over, read again) may have jobs for them already
    // (a head's retry, held ones), which a second attempt here would overtake: they go as jobs.
    const chains = new Map<string, PlannedJob[]>();
    for (const job of planned) {
      const chain = job.data.order ? `${job.queue}\u0000${job.data.order.key}` : undefined;
      if (job.released && batch.fresh && firstAttempts?.attempts(job.queue)) {
        const followers: PlannedJob[] = [];
        if (chain) chains.set(chain, followers);
        direct.push({ target: { name: job.queue }, data: job.data, followers });
      } else if (!job.released && chain && chains.has(chain)) chains.get(chain)!.push(job);
      // A held one waits behind its key's head as a job.
      else add(job);
    }
  }
  const settle = ordering ? () => ordering.settle(batch.shard) : undefined;
  if (!firstAttempts || direct.length === 0) {
    await addJobs(byQueue, deps.queues);
    return settle;
  }
  // What needs no attempt is queued while the attempts run.
  const early = addJobs(byQueue, deps.queues);
  early.catch(() => {});
  const attempts = await firstAttempts.run(direct);
  let queued: Promise<unknown> | undefined;
  let released: { target: string; jobId: string }[] = [];
  try {
    if (ordering) released = [...attempts.released, ...(await headsAfterFirstAttempts(ordering, attempts.deliveredHeads, attempts.retryingHeads))];
    const later = new Map<string, PlannedJob[]>();
    for (const job of attempts.jobs) later.set(job.queue, [...(later.get(job.queue) ?? []), job]);
    queued = Promise.all([early, addJobs(later, deps.queues), deps.recorder.flush()]);
  } finally {
    // Late answers move their jobs only once these exist; none exist when this batch failed.
    queued ??= Promise.reject(new Error('the batch was not queued'));
    queued.catch(() => {});
    attempts.queued(queued);
  }
  await queued;
  // A later delivery of a delivered head's key, queued held (in this batch or before): it goes now.
  if (ordering) await Promise.all(released.map(({ target, jobId }) => ordering.release(target, [jobId])));
  return settle;
}

/**
 * The key gate after a batch's first attempts: a delivered head's key goes to its next delivery
 * (returned, to promote once queued); a head whose job waits for a retry is admitted (running).
 */
async function headsAfterFirstAttempts(
  ordering: OrderedRouting,
  delivered: readonly FirstAttemptDelivery[],
  retrying: readonly FirstAttemptDelivery[],
): Promise<{ target: string; jobId: string }[]> {
  // One gate call per target for the delivered heads.
  const byTarget = new Map<string, { key: string; jobId: string }[]>();
  for (const { target, data } of delivered) {
    const heads = byTarget.get(target.name) ?? [];
    heads.push({ key: data.order!.key, jobId: data.callbackId });
    byTarget.set(target.name, heads);
  }
  const [nexts] = await Promise.all([
    Promise.all([...byTarget].map(async ([target, heads]) => (await ordering.deliveredAll(target, heads)).map((jobId) => ({ target, jobId })))),
    Promise.all(retrying.map(({ target, data }) => ordering.retrying(target.name, data.order!.key, data.callbackId))),
  ]);
  return nexts.flat().flatMap((next) => (next.jobId ? [{ target: next.target, jobId: next.jobId }] : []));
}

/** One addBulk per queue, all queues at once; then the log line of each job that has one. */
async function addJobs(byQueue: ReadonlyMap<string, PlannedJob[]>, queues: ReadonlyMap<string, Queue<DeliveryJobData>>): Promise<void> {
  await Promise.all(
    [...byQueue].map(async ([name, planned]) => {
      const queue = queues.get(name);
      if (!queue) throw new Error(`no queue for ${name}`);
      const jobs = await queue.addBulk(planned.map((job) => ({ name: job.data.event, data: job.data, opts: job.opts })));
      await Promise.all(planned.flatMap((job, index) => (job.logLine ? [jobs[index]!.log(job.logLine).catch(() => 0)] : [])));
    }),
  );
}

/** The read-route-acknowledge loop of one intake shard, on a blocking connection of its own. */
class ShardLoop {
  readonly ready: Promise<void>;
  private markReady: () => void = () => {};
  private readonly connection: RedisConnection;
  private readonly stream: string;
  private readonly shard: number;
  private readonly log: Logger;
  private stopping = false;
  /** Reading (blocked in XREADGROUP) rather than routing: a stop may cut the connection at once. */
  private reading = false;
  private running: Promise<void> | undefined;
  private failing = false;

  constructor(
    private readonly config: RelayConfig,
    shard: number,
    private readonly consumer: string,
    private readonly fanOut: FanOut,
    log: Logger,
    private readonly outage: RedisOutageLog,
  ) {
    this.shard = shard;
    this.stream = intakeKeys(config.redis.prefix, shard).stream;
    this.log = log.child({ shard });
    // While Redis is down the commands wait for the reconnect (no step fails); the worker role's
    // outage log tells the operator, once per outage rather than once per reconnect attempt.
    this.connection = createWorkerConnection(config.redis, { name: `router:${shard}`, outage });
    this.ready = new Promise((resolve) => {
      this.markReady = resolve;
    });
  }

  start(): void {
    // Like BullMQ's own loops, this one never throws: each failure is reported and retried.
    this.running = this.run().catch((error: unknown) => this.log.error({ err: error }, 'router stopped unexpectedly'));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // Blocked in a read: nothing is in hand, cut at once. Routing: let the batch finish first.
    if (this.reading) this.connection.disconnect();
    await this.running;
    this.connection.disconnect();
  }

  private async run(): Promise<void> {
    await this.untilDone(async () => {
      await this.createGroup();
    });
    this.markReady();
    let nextClaim = 0;
    // After a failure, this consumer's own unacknowledged entries are read again first ('0').
    let ownPending = false;
    while (!this.stopping) {
      await this.untilDone(async () => {
        let entries: IntakeEntry[] = [];
        // Only new entries ('>') come as one contiguous range of the stream (ordered-routing.ts).
        let fresh = false;
        if (Date.now() >= nextClaim) {
          const claimed = await this.claimStale();
          entries = claimed.entries;
          nextClaim = claimed.more ? 0 : Date.now() + Math.max(100, this.config.intake.claimAfter / 2);
        }
        if (entries.length === 0) {
          fresh = !ownPending;
          entries = await this.read(ownPending ? '0' : '>');
          if (ownPending && entries.length === 0) ownPending = false;
        }
        if (entries.length > 0 && !this.stopping) await this.route(entries, fresh);
      }, () => {
        ownPending = true;
      });
    }
  }

  /** Runs `step` until it succeeds or the loop stops; reports failures once per change. */
  private async untilDone(step: () => Promise<void>, onFailure: () => void = () => {}): Promise<void> {
    while (!this.stopping) {
      try {
        await step();
        this.recovered();
        return;
      } catch (error) {
        if (this.stopping) return;
        onFailure();
        if (isGroupLost(error) && (await this.groupRecreated())) continue;
        if (!this.outage.absorbs(error)) this.report(error);
        await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
      }
    }
  }

  private report(error: unknown): void {
    if (this.failing || this.stopping) return;
    this.failing = true;
    this.log.warn({ err: error }, 'router cannot route; callbacks wait in the intake log');
  }

  private recovered(): void {
    if (!this.failing) return;
    this.failing = false;
    this.log.info('routing again');
  }

  /** Creates the consumer group (and the stream); true when this call created it. */
  private async createGroup(): Promise<boolean> {
    try {
      // From the start of the stream: entries written before any router existed are routed too.
      await this.connection.xgroup('CREATE', this.stream, ROUTER_GROUP, '0', 'MKSTREAM');
      return true;
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith('BUSYGROUP'))) throw error;
      return false;
    }
  }

  /**
   * The stream or its group is gone: Redis lost its data. Creates them again (another lane may
   * have already) and says so once; false when Redis did not let it.
   */
  private async groupRecreated(): Promise<boolean> {
    try {
      if (await this.createGroup()) {
        this.log.warn(
          { stream: this.stream },
          'the intake stream or its consumer group was gone (Redis lost its data: a restart without persistence, FLUSHALL, a failover to an empty replica); created it again, routing from the start of the stream',
        );
      }
      return true;
    } catch {
      return false;
    }
  }

  private async read(from: '>' | '0'): Promise<IntakeEntry[]> {
    const { batchSize } = this.config.intake;
    this.reading = true;
    try {
      const reply =
        from === '>'
          ? await this.connection.xreadgroup('GROUP', ROUTER_GROUP, this.consumer, 'COUNT', batchSize, 'BLOCK', BLOCK_MS, 'STREAMS', this.stream, '>')
          : await this.connection.xreadgroup('GROUP', ROUTER_GROUP, this.consumer, 'COUNT', batchSize, 'STREAMS', this.stream, '0');
      return entriesOfRead(reply);
    } finally {
      this.reading = false;
    }
  }

  /** Takes over entries another router took but did not acknowledge within claimAfter. */
  private async claimStale(): Promise<{ entries: IntakeEntry[]; more: boolean }> {
    const reply = await this.connection.xautoclaim(
      this.stream,
      ROUTER_GROUP,
      this.consumer,
      this.config.intake.claimAfter,
      '0-0',
      'COUNT',
      this.config.intake.batchSize,
    );
    const { cursor, entries } = entriesOfClaim(reply);
    if (entries.length > 0) this.log.warn({ entries: entries.length }, 'claimed callbacks another router took but did not route');
    return { entries, more: cursor !== '0-0' };
  }

  /** Routes a batch; while tracing is on, under a span per callback (trace/route-span.ts). */
  private async route(entries: IntakeEntry[], fresh: boolean): Promise<void> {
    const spans = startRouteSpans(entries, { shard: this.shard, targetsOf: (data) => routedTo(this.config, data) });
    if (!spans) return this.routeAndAcknowledge(entries, fresh);
    try {
      await this.routeAndAcknowledge(entries, fresh);
      spans.end();
    } catch (error) {
      spans.end(error);
      throw error;
    }
  }

  private async routeAndAcknowledge(entries: IntakeEntry[], fresh: boolean): Promise<void> {
    const started = performance.now();
    // The whole batch is one range of the stream; an entry fanned out alone (after the batch
    // failed) is not a fresh range for the ordering barrier (ordered-routing.ts).
    const whole: RouterBatch = { shard: this.shard, fresh, first: entries[0]!.entryId, last: entries.at(-1)!.entryId };
    const { unroutable, afterAck } = await routeBatch(entries, (routable, alone) =>
      this.fanOut(routable, alone ? { shard: this.shard, fresh: false, first: routable[0]!.entryId, last: routable[0]!.entryId, alone } : whole),
    );
    await this.setAside(unroutable);
    // Only once every job is queued (or its entry set aside): a crash or a failure before this
    // line leaves the entries pending, and routing them again is harmless (same job ids).
    const ids = entries.map((entry) => entry.entryId);
    const replies = await this.connection.multi().xack(this.stream, ROUTER_GROUP, ...ids).xdel(this.stream, ...ids).exec();
    const failed = replies?.find(([error]) => error)?.[0];
    if (!replies || failed) throw failed ?? new Error('acknowledging the intake entries was aborted');
    routerBatchSize.observe(entries.length);
    routerBatchDuration.observe((performance.now() - started) / 1000);
    for (const run of afterAck) await run();
  }

  /** Keeps entries that cannot be routed where an operator can see them, so their batch goes on. */
  private async setAside(entries: readonly UnroutableEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const at = new Date().toISOString();
    await setAsidePoisoned(this.connection, this.config.redis.prefix, entries.map(({ entryId, reason, fields }) => ({ at, shard: this.shard, entryId, reason, fields })));
    intakePoisoned.inc(entries.length);
    for (const { entryId, reason } of entries) {
      this.log.error({ entryId, reason }, 'an intake entry cannot be routed: set aside (zego-relay poisoned lists it)');
    }
  }
}

/** Redis says the stream or the consumer group does not exist (any more). */
function isGroupLost(error: unknown): boolean {
  return error instanceof Error && /^(NOGROUP|UNBLOCKED the stream key no longer exists)/.test(error.message);
}
