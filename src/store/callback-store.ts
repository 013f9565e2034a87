/**
 * The receiver's durable write: a callback is either a replayed nonce, a duplicate of one already
 * stored, or new, in which case one BullMQ job per matching target (or one in the unrouted queue)
 * and the seen marker are written in ONE MULTI/EXEC. A crash can therefore never leave a callback
 * marked seen without its jobs. Two round trips at most; any Redis error or a wait beyond
 * PRODUCER_COMMAND_TIMEOUT_MS becomes UnavailableError (503), so ZEGO retries.
 */
import { Job, type Queue, type RedisClient } from 'bullmq';
import type { Redis } from 'ioredis';
import type { RelayConfig } from '../config/load.js';
import { deliveryJobOptions } from '../deliver/job-options.js';
import { UnavailableError } from '../errors.js';
import type { Logger } from '../ops/logger.js';
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

type ClaimingRedis = Redis & {
  [CLAIM_COMMAND](nonceKey: string, seenKey: string, callbackId: string, nonceTtlSeconds: number): Promise<ClaimResult>;
};

/** Writes callbacks to Redis for the delivery workers. One instance per receiver process. */
export class CallbackStore {
  private queues: Map<string, Queue<DeliveryJobData>>;
  private client: Promise<RedisClient> | undefined;
  private readonly nonceTtlSeconds: number;
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
    connection.defineCommand(CLAIM_COMMAND, { numberOfKeys: 2, lua: CLAIM_SCRIPT });
    // A nonce must stay bound while a captured (timestamp, nonce, signature) could still pass the
    // timestamp check: the tolerance on both sides, plus a margin for clock steps.
    this.nonceTtlSeconds = 2 * config.zego.timestampToleranceSeconds + 60;
    this.dedupeSeconds = Math.max(1, Math.ceil(config.zego.dedupeWindow / 1000));
    this.queues = this.openQueues();
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
    const work = this.write(callback, receivedAt);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new UnavailableError(undefined, new Error(`Redis did not answer within ${PRODUCER_COMMAND_TIMEOUT_MS} ms`))),
        PRODUCER_COMMAND_TIMEOUT_MS,
      );
    });
    // When the deadline wins, the write may still finish later: harmless (ZEGO's retry then gets
    // `duplicate`), but its outcome must not surface as an unhandled rejection.
    work.catch(() => {});
    try {
      return await Promise.race([work, deadline]);
    } catch (error) {
      throw error instanceof UnavailableError ? error : new UnavailableError(undefined, error);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the queues and the connection. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.queues.values()].map((queue) => queue.close()));
    try {
      await this.connection.quit();
    } catch {
      this.connection.disconnect();
    }
  }

  private async write(callback: CallbackToStore, receivedAt: number): Promise<StoreOutcome> {
    const { prefix } = this.config.redis;
    const seenKey = markerKeys.seen(prefix, callback.callbackId);
    const client = await this.readyClient();
    const claim = await (this.connection as ClaimingRedis)[CLAIM_COMMAND](
      markerKeys.nonce(prefix, callback.appId, callback.nonce),
      seenKey,
      callback.callbackId,
      this.nonceTtlSeconds,
    );
    if (claim === 'replayed') return 'replayed';
    if (claim === 'duplicate') return 'duplicate';

    const data: DeliveryJobData = {
      callbackId: callback.callbackId,
      event: callback.event,
      appId: callback.appId,
      body: callback.body,
      receivedAt,
    };
    const multi = client.multi();
    const targets = matchTargets(this.config.targets, callback.event, callback.appId);
    const adds: Promise<unknown>[] = [];
    for (const target of targets) {
      const options = deliveryJobOptions(target, this.config.retention, callback.callbackId);
      adds.push(new Job(this.queue(target.name), callback.event, data, options, callback.callbackId).addJob(multi));
    }
    if (targets.length === 0) {
      // Kept, never dropped: an operator can see and replay what no target wanted.
      const unrouted = this.queue(UNROUTED_QUEUE);
      adds.push(new Job(unrouted, callback.event, data, { jobId: callback.callbackId }, callback.callbackId).addJob(multi));
    }
    await Promise.all(adds); // each add is queued on the MULTI synchronously; this only surfaces errors
    (multi as unknown as Pick<Redis, 'set'>).set(seenKey, '1', 'EX', this.dedupeSeconds);

    const results = await multi.exec();
    const failed = results === null ? new Error('the transaction was aborted') : results.find(([error]) => error)?.[0];
    if (failed) {
      // MULTI does not roll back a command that fails at run time (e.g. NOSCRIPT after SCRIPT
      // FLUSH): forget the seen marker so ZEGO's retry stores the callback instead of a duplicate.
      await this.connection.del(seenKey).catch(() => {});
      if (failed.message.includes('NOSCRIPT')) await this.reloadScripts();
      throw new UnavailableError(undefined, failed);
    }
    if (targets.length === 0) callbacksUnrouted.inc({ event: eventLabel(callback.event) });
    return 'stored';
  }

  /**
   * ioredis sends EVALSHA once a socket has used a script and only falls back to EVAL outside a
   * MULTI; after SCRIPT FLUSH every transaction would fail until a reconnect. Loading the scripts
   * again (the Lua ioredis keeps for each defined command) makes the next try succeed.
   */
  private async reloadScripts(): Promise<void> {
    const scripts = Object.values(this.connection.scriptsSet as Record<string, { lua?: unknown }>);
    const pipeline = this.connection.pipeline();
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
   * The BullMQ client, once every queue has loaded its scripts on the shared connection. Waits while
   * Redis is down (the caller's deadline answers 503); if BullMQ's start-up fails for good (e.g. its
   * version check hit a timeout), the queues are opened again on the next callback.
   */
  private readyClient(): Promise<RedisClient> {
    if (!this.client) {
      const queues = [...this.queues.values()];
      const client = Promise.all(queues.map((queue) => queue.waitUntilReady())).then(() => queues[0]!.getBackend().client);
      client.catch((error: unknown) => {
        this.logger.warn({ err: error }, 'BullMQ queues failed to start; opening them again');
        this.client = undefined;
        const stale = this.queues;
        this.queues = this.openQueues();
        for (const queue of stale.values()) void queue.close().catch(() => {});
      });
      this.client = client;
    }
    return this.client;
  }

  private openQueues(): Map<string, Queue<DeliveryJobData>> {
    const queues = openQueues(this.config, this.connection);
    // Queues re-emit the connection's errors; the connection's own listener logs them once.
    for (const queue of queues.values()) queue.on('error', () => {});
    return queues;
  }

  /** One warning when Redis goes away and one line when it is back, not one per reconnect attempt. */
  private watchConnection(): void {
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
