/**
 * Re-queues dead letters (BullMQ failed jobs) of a target with a fresh set of attempts.
 * `zego-relay replay --target NAME [--since 24h] [--limit N]` calls this.
 */
import type { Job, Queue } from 'bullmq';
import type { RelayConfig } from '../config/load.js';
import { UnavailableError } from '../errors.js';
import type { DeliveryJobData } from '../shared/names.js';
import { withTargetQueue } from './queue.js';

/** `replay` named a target the configuration does not have. */
export class UnknownTargetError extends Error {
  constructor(readonly target: string, known: readonly string[]) {
    super(`no target named "${target}" in the configuration (targets: ${known.length > 0 ? known.join(', ') : 'none'})`);
    this.name = 'UnknownTargetError';
  }
}

export interface ReplayOptions {
  readonly config: RelayConfig;
  readonly target: string;
  /** Only dead letters that failed within this many ms before now. */
  readonly sinceMs?: number;
  /** At most this many (the most recent first). */
  readonly limit?: number;
  /** The clock, for tests. @defaultValue Date.now */
  readonly now?: () => number;
  /** Called after each re-queued dead letter with the count so far (progress, partial counts). */
  readonly onReplayed?: (count: number) => void;
}

/**
 * Moves the target's dead letters back to its queue, most recently failed first, each with its
 * attempts reset so it gets the whole retry schedule again. Returns how many were re-queued.
 * Throws UnknownTargetError for a name not in the configuration.
 */
export async function replayDeadLetters(options: ReplayOptions): Promise<number> {
  const { config, target } = options;
  const configured = config.targets.find((candidate) => candidate.name === target);
  if (!configured) {
    throw new UnknownTargetError(target, config.targets.map((candidate) => candidate.name));
  }
  return withTargetQueue(config, target, 'replay', async (queue, connection) => {
    const { requeued } = await requeueDeadLetters(queue, {
      ...options,
      keyOrder: configured.ordering !== undefined,
      checkConnection: (replayed, error) => {
        if (connection.status !== 'ready') throw new UnavailableError(`Redis went away after ${replayed} re-queued`, error);
      },
    });
    return requeued;
  });
}

export interface RequeueOptions extends Pick<ReplayOptions, 'sinceMs' | 'limit' | 'now' | 'onReplayed'> {
  /**
   * Called when a dead letter could not be re-queued: throw to stop (Redis is gone); return to
   * go on (the job was removed by retention or retried by someone else meanwhile).
   */
  readonly checkConnection?: (replayed: number, error: unknown) => void;
  /** Stop re-queueing at this time (ms since the epoch); the result says whether more remain. @defaultValue none */
  readonly deadline?: number;
  /** Dead letters read from Redis at once. @defaultValue 100 */
  readonly pageSize?: number;
  /**
   * An ordered target: the chosen dead letters go back oldest first in their keys' order
   * (keyOrderReplay below). @defaultValue false
   */
  readonly keyOrder?: boolean;
}

export interface RequeueResult {
  /** Dead letters re-queued. */
  readonly requeued: number;
  /** True when the run stopped (deadline or limit) with dead letters within `since` still to re-queue. */
  readonly more: boolean;
}

/** A page of dead letters: what a replay holds in memory at once, bodies included. */
const PAGE_SIZE = 100;

/**
 * Re-queues the dead letters of one target's queue (the `replay` command and the admin API),
 * most recently failed first, a page at a time: memory holds one page, whatever the backlog.
 * BullMQ's counters are reset too, but what gives a dead letter its fresh schedule is the worker
 * seeing the dead-letter mark in its data (workers/deliver/progress.ts), as for Bull Board's retry button.
 *
 * The failed set is read newest first. A re-queued job leaves it, so the next page starts where
 * the jobs left in place end (`inPlace`): those that failed after the run started (a re-queued
 * one failing again among them: never re-queued twice by one run) and those that could not be
 * re-queued. Every job is seen once in order of failure, and a run re-queues at most as many as
 * there were when it started.
 */
export async function requeueDeadLetters(queue: Queue<DeliveryJobData>, options: RequeueOptions): Promise<RequeueResult> {
  if (options.keyOrder) return keyOrderReplay(queue, options);
  const startedAt = (options.now ?? Date.now)();
  const cutoff = options.sinceMs === undefined ? -Infinity : startedAt - options.sinceMs;
  const pageSize = options.pageSize ?? PAGE_SIZE;
  const limit = Math.min(options.limit ?? Infinity, await queue.getFailedCount());
  /** The latest failure time re-queued: anything later failed during the run. */
  let frontier = startedAt;
  let inPlace = 0;
  const leftInPlace = new Set<string>();
  let requeued = 0;
  for (;;) {
    const page = (await queue.getFailed(inPlace, inPlace + pageSize - 1)) as Job<DeliveryJobData>[];
    for (const job of page) {
      const failedAt = job.finishedOn ?? 0;
      if (failedAt > frontier || leftInPlace.has(job.id!)) {
        inPlace += 1;
        continue;
      }
      if (failedAt < cutoff) return { requeued, more: false };
      // At the caller's limit with one more in view: more remain; at the count the run began with: none.
      if (requeued >= limit) return { requeued, more: requeued >= (options.limit ?? Infinity) };
      if (options.deadline !== undefined && Date.now() >= options.deadline) return { requeued, more: true };
      try {
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
        requeued += 1;
        frontier = failedAt;
        options.onReplayed?.(requeued);
      } catch (error) {
        options.checkConnection?.(requeued, error);
        // Still a dead letter: later pages start after it (gone, retried by someone else: they don't).
        if (await job.isFailed().catch(() => true)) {
          leftInPlace.add(job.id!);
          inPlace += 1;
        }
      }
    }
    if (page.length < pageSize) return { requeued, more: false };
  }
}

/**
 * An ordered target's dead letters go back oldest first (by their position in their key's order),
 * so a worker that picks one up finds the earlier ones of its key already re-queued and enters
 * them first (workers/deliver/ordered-jobs.ts): the replayed ones keep their order. The choice is the same
 * as above (the most recently failed, within `since` and `limit`), read a page at a time; only the
 * chosen ids and positions are held in memory, never their bodies.
 */
async function keyOrderReplay(queue: Queue<DeliveryJobData>, options: RequeueOptions): Promise<RequeueResult> {
  const cutoff = options.sinceMs === undefined ? -Infinity : (options.now ?? Date.now)() - options.sinceMs;
  const pageSize = options.pageSize ?? PAGE_SIZE;
  const limit = options.limit ?? Infinity;
  const chosen: { id: string; at: string }[] = [];
  let more = false;
  // Nothing is moved while choosing, so the pages stand still under the reads.
  collect: for (let start = 0; ; start += pageSize) {
    const page = (await queue.getFailed(start, start + pageSize - 1)) as Job<DeliveryJobData>[];
    for (const job of page) {
      if ((job.finishedOn ?? 0) < cutoff) break collect;
      if (chosen.length >= limit) {
        more = true;
        break collect;
      }
      chosen.push({ id: job.id!, at: job.data.order?.at ?? '' });
    }
    if (page.length < pageSize) break;
  }
  chosen.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  let requeued = 0;
  for (const [index, { id }] of chosen.entries()) {
    if (options.deadline !== undefined && Date.now() >= options.deadline) return { requeued, more: more || index < chosen.length };
    try {
      const job = await queue.getJob(id);
      if (!job) continue;
      await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      requeued += 1;
      options.onReplayed?.(requeued);
    } catch (error) {
      options.checkConnection?.(requeued, error);
    }
  }
  return { requeued, more };
}
