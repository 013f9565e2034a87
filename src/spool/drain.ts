/**
 * The spool's drain: moves spooled callbacks into Redis through the receiver's own store (the same
 * intake script, so the same verdicts), oldest first, a batch at a time, and then lets the spool
 * forget them and delete the segments it has moved.
 *
 * Idempotent, so a crash anywhere costs nothing: a record written to Redis and drained again (the
 * receiver died before the spool forgot it, or ZEGO re-sent the callback once Redis was back) is
 * answered `duplicate` by the script's seen marker and stored once. A record the script calls
 * `replayed` (its nonce was bound in Redis to another callback, say by another receiver) is
 * dropped, logged and booked as a refused request.
 *
 * The writes of a batch are sent together, in order, on one connection; the records up to the
 * first failure are done, the rest are tried again (a write of those that did land is then a
 * duplicate). Like every background loop it never throws and reports a failure once per change.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../lib/logger.js';
import type { CallbackToStore, StoreOutcome } from '../intake/callback-store.js';
import { readyWithin } from '../redis/ready.js';
import type { RedisConnection } from '../redis/connection.js';
import { describeRedisError } from '../redis/outage.js';
import type { SpooledCallback } from './record.js';
import type { Spool } from './spool.js';

/** The receiver's store, as the drain uses it. */
export interface DrainStore {
  store(callback: CallbackToStore, receivedAt: number): Promise<StoreOutcome>;
  readonly connection: RedisConnection;
}

export interface DrainOptions {
  readonly logger: Logger;
  /** A spooled callback the intake script refused as a replay: booked as a refused request. */
  readonly onReplayed: (spooled: SpooledCallback) => void;
}

/** Records sent to Redis at once. */
const BATCH_RECORDS = 256;
/** After a failed batch. */
const RETRY_PAUSE_MS = 500;
/** How long one look at an empty spool, or at a Redis that is not connected, waits. */
const WAIT_MS = 1_000;

export class SpoolDrain {
  private readonly stopped = new AbortController();
  private running: Promise<void> | undefined;
  private failing = false;
  /** Callbacks moved since the spool last was empty; undefined while it is empty. */
  private moved: number | undefined;

  constructor(
    private readonly spool: Spool,
    private readonly store: DrainStore,
    private readonly options: DrainOptions,
  ) {}

  start(): void {
    this.running = this.run().catch((error: unknown) => this.options.logger.error({ err: error }, 'the spool drain stopped unexpectedly'));
  }

  /** Finishes the batch in hand; the rest stays spooled for the next start. */
  async stop(): Promise<void> {
    this.stopped.abort();
    await this.running;
  }

  private async run(): Promise<void> {
    while (!this.stopped.signal.aborted) {
      if (this.spool.status().callbacks === 0) {
        this.finished();
        await this.spool.whenNotEmpty(WAIT_MS);
        continue;
      }
      if (!(await this.redisReady())) continue;
      await this.drainBatch();
    }
  }

  private async redisReady(): Promise<boolean> {
    try {
      await readyWithin(this.store.connection, WAIT_MS);
      return true;
    } catch {
      return false;
    }
  }

  private async drainBatch(): Promise<void> {
    if (this.moved === undefined) {
      this.moved = 0;
      this.options.logger.info({ callbacks: this.spool.status().callbacks }, 'moving spooled callbacks into Redis');
    }
    try {
      const batch = await this.spool.oldest(BATCH_RECORDS);
      const results = await Promise.allSettled(
        batch.map(({ spooled }) => (spooled ? this.store.store(spooled.callback, spooled.receivedAt) : Promise.resolve('damaged' as const))),
      );
      let done = 0;
      let failure: unknown;
      for (const [index, result] of results.entries()) {
        if (result.status === 'rejected') {
          failure = result.reason;
          break;
        }
        this.settled(result.value, batch[index]!);
        done += 1;
      }
      await this.spool.drained(done);
      this.moved += done;
      if (failure !== undefined) throw failure;
      this.recovered();
    } catch (error) {
      this.report(error);
      await sleep(RETRY_PAUSE_MS, undefined, { signal: this.stopped.signal }).catch(() => {});
    }
  }

  private settled(outcome: StoreOutcome | 'damaged', { entry, spooled }: Awaited<ReturnType<Spool['oldest']>>[number]): void {
    if (outcome === 'damaged') {
      this.options.logger.error({ segment: entry.segment, offset: entry.offset, callbackId: entry.keys.callbackId }, 'a spooled callback can no longer be read back (disk damage?); it is lost');
    } else if (outcome === 'replayed') {
      const { callbackId, event, appId } = spooled!.callback;
      this.options.logger.warn({ callbackId, event, appId }, 'a spooled callback is a replay (its nonce is bound to another callback in Redis): dropped');
      this.options.onReplayed(spooled!);
    }
  }

  private finished(): void {
    if (this.moved === undefined) return;
    this.options.logger.info({ moved: this.moved }, 'the spool is empty: every spooled callback is in Redis');
    this.moved = undefined;
  }

  private report(error: unknown): void {
    if (this.failing || this.stopped.signal.aborted) return;
    this.failing = true;
    this.options.logger.warn({ err: describeRedisError(error instanceof Error && error.cause !== undefined ? error.cause : error) }, 'cannot move spooled callbacks into Redis yet; retrying');
  }

  private recovered(): void {
    if (!this.failing) return;
    this.failing = false;
    this.options.logger.info('moving spooled callbacks into Redis again');
  }
}
