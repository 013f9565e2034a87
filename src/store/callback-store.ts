/**
 * The receiver's durable write: a callback is either a replayed nonce, a duplicate of one already
 * stored, or new, in which case one BullMQ job per matching target (or one in the unrouted queue)
 * and the seen marker are written in ONE MULTI/EXEC. A crash can therefore never leave a callback
 * marked seen without its jobs. One round trip (see claim-script.ts); any Redis error or a wait beyond
 * PRODUCER_COMMAND_TIMEOUT_MS becomes UnavailableError (503), so ZEGO retries.
 */
import { once } from 'node:events';
import { Job, type JobsOptions, type Queue } from 'bullmq';
import type { ChainableCommander, Redis } from 'ioredis';
import type { RelayConfig } from '../config/load.js';
import { deliveryJobOptions, unroutedJobOptions } from '../deliver/job-options.js';
import { UnavailableError } from '../errors.js';
import type { Logger } from '../ops/logger.js';
import { withTimeout } from '../ops/with-timeout.js';
import { callbacksUnrouted, eventLabel } from '../ops/metrics.js';
import { matchTargets } from '../route/match.js';
import { CLAIM_COMMAND, CLAIM_SCRIPT, type ClaimResult } from './claim-script.js';
import { UNROUTED_QUEUE, markerKeys, openQueues, type DeliveryJobData } from './queues.js';
import { PRODUCER_COMMAND_TIMEOUT_MS, createProducerConnection } from './redis.js';

/** What the receiver knows about a callback when it stores it. */
export interface CallbackToStore {
  callbackId: string;
  event: string;
  appId: string;
  nonce: string;
  /** The JSON body to deliver. */
  body: string;
}

/** `replayed`: the nonce came before with another callback id; nothing was written. */
export type StoreOutcome = 'stored' | 'duplicate' | 'replayed';

type ClaimingPipeline = ChainableCommander & {
  [CLAIM_COMMAND](nonceKey: string, seenKey: string, guardKey: string, callbackId: string, nonceTtlSeconds: number): ChainableCommander;
};

/** The BullMQ scripts a job insert may run (Job.addJob picks one by the job's options). */
const BULLMQ_ADD_SCRIPTS = /^(addStandardJob|addDelayedJob|addPrioritizedJob|addParentJob):/;

/** ioredis keeps each defined command's Lua; typed as `{}` in its declarations. */
type ScriptsSet = Record<string, { lua?: string; numberOfKeys?: number | null }>;

/** The part of a BullMQ transaction Job.addJob uses: run a defined script by name. */
type JobTransaction = Parameters<Job['addJob']>[0];

/** Writes callbacks to Redis for the delivery workers. One instance per receiver process. */
export class CallbackStore {
  private queues: Map<string, Queue<DeliveryJobData>>;
  private ready: Promise<void> | undefined;
  /**
   * The hot path's connection: only the claim and BullMQ's add scripts are defined on it. ioredis
   * copies every defined script into each MULTI it creates, and BullMQ defines ~50 on the queues'
   * connection; that copy was 9% of the receiver's CPU. Auto-pipelining sends the commands of
   * concurrent callbacks in one socket write.
   */
  private readonly writer: Redis;
  private readonly nonceTtlSeconds: number;
  /** Each target's job options but the job id, built once (they depend on the config only). */
  private readonly jobOptions: ReadonlyMap<string, JobsOptions>;
  private readonly dedupeSeconds: number;

  /**
   * @param connection - a producer connection (createProducerConnection): no offline queue, short
   *   command timeout. The store owns it and closes it in `close()`.
   */
  constructor(
    private readonly config: RelayConfig,
    readonly connection: Redis,
    private readonly logger: Logger,
  ) {
    this.writer = connection.duplicate({ enableAutoPipelining: true, connectionName: 'zego-relay:receiver-writer' });
    this.writer.defineCommand(CLAIM_COMMAND, { numberOfKeys: 3, lua: CLAIM_SCRIPT });
    // A nonce must stay bound while a captured (timestamp, nonce, signature) could still pass the
    // timestamp check: the tolerance on both sides, plus a margin for clock steps.
    this.nonceTtlSeconds = 2 * config.zego.timestampToleranceSeconds + 60;
    this.dedupeSeconds = Math.max(1, Math.ceil(config.zego.dedupeWindow / 1000));
    this.jobOptions = new Map(config.targets.map((target) => [target.name, deliveryJobOptions(target, config.retention)]));
    this.queues = openQueues(this.config, this.connection);
    this.watchConnection();
  }

  /** A store on a new producer connection to `config.redis.url`. */
  static open(config: RelayConfig, logger: Logger): CallbackStore {
    return new CallbackStore(config, createProducerConnection(config.redis.url, 'receiver'), logger);
  }

  /**
   * Stores a callback unless its nonce is replayed or it is already stored.
   * @throws UnavailableError when Redis does not confirm within PRODUCER_COMMAND_TIMEOUT_MS.
   */
  async store(callback: CallbackToStore, receivedAt = Date.now()): Promise<StoreOutcome> {
    // When the deadline wins, a write already sent may still commit later: harmless (ZEGO's retry
    // then gets `duplicate`). A write still waiting for the connection is dropped (writerReady).
    try {
      return await withTimeout(
        this.write(callback, receivedAt, Date.now() + PRODUCER_COMMAND_TIMEOUT_MS),
        PRODUCER_COMMAND_TIMEOUT_MS,
        () => new UnavailableError(undefined, new Error(`Redis did not answer within ${PRODUCER_COMMAND_TIMEOUT_MS} ms`)),
      );
    } catch (error) {
      throw error instanceof UnavailableError ? error : new UnavailableError(undefined, error);
    }
  }

  /** Closes the queues and the connection. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.queues.values()].map((queue) => queue.close()));
    for (const redis of [this.writer, this.connection]) {
      try {
        await redis.quit();
      } catch {
        redis.disconnect();
      }
    }
  }

  private async write(callback: CallbackToStore, receivedAt: number, deadline: number): Promise<StoreOutcome> {
    const { prefix } = this.config.redis;
    const seenKey = markerKeys.seen(prefix, callback.callbackId);
    const guardKey = markerKeys.guard(prefix, callback.callbackId);
    await this.queuesReady();
    // Past the deadline the caller has answered 503 already: don't write after the fact.
    if (Date.now() >= deadline) throw new UnavailableError();
    await this.writerReady(deadline);

    // One pipeline, written to the socket in one piece so no other callback's commands interleave:
    // WATCH guard, the admission script (writes guard unless the callback is new), then MULTI with
    // the jobs and the seen marker, EXEC. A duplicate or replay aborts the EXEC: nothing is stored.
    const pipeline = this.writer.pipeline();
    pipeline.watch(guardKey);
    (pipeline as unknown as ClaimingPipeline)[CLAIM_COMMAND](
      markerKeys.nonce(prefix, callback.nonce),
      seenKey,
      guardKey,
      callback.callbackId,
      this.nonceTtlSeconds,
    );
    // ioredis' Pipeline has multi() (it counts open transactions) but its types leave it out.
    (pipeline as unknown as { multi(): void }).multi();
    const targets = this.queueJobs(pipeline, callback, receivedAt);
    pipeline.set(seenKey, '1', 'EX', this.dedupeSeconds);
    // Inside a pipeline with an open MULTI, exec() queues the EXEC command; the second one sends.
    pipeline.exec();
    const replies = (await pipeline.exec()) ?? [];

    // The EXEC decides, not the script's verdict: after a NOSCRIPT, ioredis re-sends the script on
    // its own, after this EXEC, when it would already see the seen marker.
    const exec = replies[replies.length - 1];
    const committed = exec?.[1] as unknown[] | null | undefined;
    const failed = exec?.[0] ?? committed?.find((reply): reply is Error => reply instanceof Error);
    if (failed) {
      // MULTI does not roll back a command that fails at run time (e.g. NOSCRIPT after SCRIPT
      // FLUSH): forget the seen marker so ZEGO's retry stores the callback instead of a duplicate.
      await this.writer.del(seenKey).catch(() => {});
      if (failed.message.includes('NOSCRIPT')) await this.reloadScripts();
      throw new UnavailableError(undefined, failed);
    }
    if (!committed) {
      // Aborted: the admission script wrote the guard (replay or duplicate). A 'new' verdict here
      // means another process touched the guard meanwhile; ZEGO's retry will settle it.
      const [claimError, verdict] = replies[1] ?? [];
      if (claimError) throw new UnavailableError(undefined, claimError);
      if (verdict === 'replayed' || verdict === 'duplicate') return verdict;
      throw new UnavailableError(undefined, new Error('the transaction was aborted'));
    }
    if (targets === 0) callbacksUnrouted.inc({ event: eventLabel(callback.event) });
    // Past the dedupe window a callback is new again; if its old job is still kept (a dead letter
    // lives 30 days) BullMQ's add leaves that job as it is. ZEGO never re-sends that late.
    return 'stored';
  }

  /** Queues the callback's job for each matching target (or the unrouted queue); returns the count of targets. */
  private queueJobs(pipeline: ChainableCommander, callback: CallbackToStore, receivedAt: number): number {
    const data: DeliveryJobData = {
      callbackId: callback.callbackId,
      event: callback.event,
      appId: callback.appId,
      body: callback.body,
      receivedAt,
    };
    // Job.addJob runs BullMQ's insert script by name through `runCommand`.
    const transaction = Object.assign(pipeline, {
      runCommand(name: string, args: unknown[]) {
        (pipeline as unknown as Record<string, (args: unknown[]) => unknown>)[name]!(args);
        return transaction;
      },
    }) as unknown as JobTransaction;
    const targets = matchTargets(this.config.targets, callback.event, callback.appId);
    for (const target of targets) {
      const options = { ...this.jobOptions.get(target.name), jobId: callback.callbackId };
      // Each add is queued on the pipeline synchronously; its own promise settles with the EXEC.
      void new Job(this.queue(target.name), callback.event, data, options, callback.callbackId).addJob(transaction).catch(() => {});
    }
    if (targets.length === 0) {
      // Kept, never dropped: it stays visible in Bull Board for the dead-letter retention.
      const unrouted = this.queue(UNROUTED_QUEUE);
      const options = unroutedJobOptions(this.config.retention, callback.callbackId);
      void new Job(unrouted, callback.event, data, options, callback.callbackId).addJob(transaction).catch(() => {});
    }
    return targets.length;
  }

  /**
   * ioredis sends EVALSHA once a socket has used a script and only falls back to EVAL outside a
   * MULTI; after SCRIPT FLUSH every transaction would fail until a reconnect. Loading the scripts
   * again (the Lua ioredis keeps for each defined command) makes the next try succeed.
   */
  private async reloadScripts(): Promise<void> {
    const scripts = Object.values(this.writer.scriptsSet as ScriptsSet);
    const pipeline = this.writer.pipeline();
    for (const script of scripts) if (typeof script.lua === 'string') pipeline.script('LOAD', script.lua);
    await pipeline.exec().catch(() => {});
    this.logger.warn({ scripts: scripts.length }, 'Redis had lost its Lua scripts (SCRIPT FLUSH or a new node); loaded them again');
  }

  private queue(name: string): Queue<DeliveryJobData> {
    const queue = this.queues.get(name);
    if (!queue) throw new Error(`no queue for ${name}`);
    return queue;
  }

  /**
   * Resolves once every queue has started (BullMQ loaded its scripts and checked the Redis version)
   * and the writer has BullMQ's insert scripts. Waits while Redis is down (the caller's deadline
   * answers 503); if BullMQ's start-up fails for good (e.g. its version check hit a timeout), the
   * queues are opened again on the next callback.
   */
  private queuesReady(): Promise<void> {
    if (!this.ready) {
      const queues = [...this.queues.values()];
      const ready = Promise.all(queues.map((queue) => queue.waitUntilReady())).then(() => this.defineInsertScripts());
      ready.catch((error: unknown) => {
        this.logger.warn({ err: error }, 'BullMQ queues failed to start; opening them again');
        this.ready = undefined;
        const stale = this.queues;
        this.queues = openQueues(this.config, this.connection);
        for (const queue of stale.values()) void queue.close().catch(() => {});
      });
      this.ready = ready;
    }
    return this.ready;
  }

  /**
   * The writer connects on its own after the store is built; without an offline queue a pipeline
   * sent before it is ready fails. store()'s deadline bounds this wait while Redis is down.
   */
  private async writerReady(deadline: number): Promise<void> {
    if (this.writer.status === 'ready') return;
    // Bounded, and the listener goes with the wait: a long outage must not pile up one per request.
    await once(this.writer, 'ready', { signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) });
  }

  /** Defines on the writer the BullMQ insert scripts the queues defined on their connection. */
  private defineInsertScripts(): void {
    const defined = this.writer.scriptsSet as ScriptsSet;
    for (const [name, script] of Object.entries(this.connection.scriptsSet as ScriptsSet)) {
      if (!BULLMQ_ADD_SCRIPTS.test(name) || defined[name] || typeof script.lua !== 'string') continue;
      this.writer.defineCommand(name, { lua: script.lua, ...(typeof script.numberOfKeys === 'number' ? { numberOfKeys: script.numberOfKeys } : {}) });
    }
  }

  /** One warning when Redis goes away and one line when it is back, not one per reconnect attempt. */
  private watchConnection(): void {
    // The writer fails along with the connection; one of them reporting is enough.
    this.writer.on('error', () => {});
    let healthy = true;
    this.connection.on('error', (error: Error) => {
      if (!healthy) return;
      healthy = false;
      this.logger.warn({ err: error }, 'Redis is unreachable; callbacks are answered 503 until it is back');
    });
    this.connection.on('ready', () => {
      if (healthy) return;
      healthy = true;
      this.logger.info('Redis is reachable again');
    });
  }
}
