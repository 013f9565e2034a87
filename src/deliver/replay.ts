/**
 * Re-queues dead letters (BullMQ failed jobs) of a target with a fresh set of attempts.
 * `zego-relay replay --target NAME [--since 24h] [--limit N]` calls this.
 */
import type { Job, Queue } from 'bullmq';
import type { RelayConfig } from '../config/load.js';
import { UnavailableError } from '../errors.js';
import type { DeliveryJobData } from '../store/queues.js';
import { withTargetQueue } from './target-queue.js';

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

const PAGE_SIZE = 500;

/**
 * Moves the target's dead letters back to its queue, most recently failed first, each with its
 * attempts reset so it gets the whole retry schedule again. Returns how many were re-queued.
 * Throws UnknownTargetError for a name not in the configuration.
 */
export async function replayDeadLetters(options: ReplayOptions): Promise<number> {
  const { config, target } = options;
  if (!config.targets.some((candidate) => candidate.name === target)) {
    throw new UnknownTargetError(target, config.targets.map((candidate) => candidate.name));
  }
  return withTargetQueue(config, target, 'replay', (queue, connection) =>
    requeueDeadLetters(queue, {
      ...options,
      checkConnection: (replayed, error) => {
        if (connection.status !== 'ready') throw new UnavailableError(`Redis went away after ${replayed} re-queued`, error);
      },
    }),
  );
}

export interface RequeueOptions extends Pick<ReplayOptions, 'sinceMs' | 'limit' | 'now' | 'onReplayed'> {
  /**
   * Called when a dead letter could not be re-queued: throw to stop (Redis is gone); return to
   * go on (the job was removed by retention or retried by someone else meanwhile).
   */
  readonly checkConnection?: (replayed: number, error: unknown) => void;
}

/**
 * Re-queues the dead letters of one target's queue (the `replay` command and the admin API).
 * BullMQ's counters are reset too, but what gives a dead letter its fresh schedule is the worker
 * seeing the dead-letter mark in its data (deliver/progress.ts), as for Bull Board's retry button.
 */
export async function requeueDeadLetters(queue: Queue<DeliveryJobData>, options: RequeueOptions): Promise<number> {
  const cutoff = options.sinceMs === undefined ? -Infinity : (options.now ?? Date.now)() - options.sinceMs;
  const chosen = inKeyOrder(await recentDeadLetters(queue, cutoff, options.limit ?? Infinity));
  let replayed = 0;
  for (const job of chosen) {
    try {
      await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      replayed += 1;
      options.onReplayed?.(replayed);
    } catch (error) {
      options.checkConnection?.(replayed, error);
    }
  }
  return replayed;
}

/**
 * An ordered target's dead letters go back oldest first (by their position in their key's order),
 * so a worker that picks one up finds the earlier ones of its key already re-queued and enters
 * them first (deliver/ordered-jobs.ts): the replayed ones keep their order.
 */
function inKeyOrder(jobs: Job<DeliveryJobData>[]): Job<DeliveryJobData>[] {
  const at = (job: Job<DeliveryJobData>) => job.data.order?.at ?? '';
  return jobs.some((job) => job.data.order) ? [...jobs].sort((a, b) => (at(a) < at(b) ? -1 : at(a) > at(b) ? 1 : 0)) : jobs;
}

/**
 * The failed jobs to replay, newest first. Collected before any is moved: retrying removes a job
 * from the failed set, which would shift the pages under our feet.
 */
async function recentDeadLetters(queue: Queue<DeliveryJobData>, cutoff: number, limit: number): Promise<Job<DeliveryJobData>[]> {
  const chosen: Job<DeliveryJobData>[] = [];
  for (let start = 0; chosen.length < limit; start += PAGE_SIZE) {
    const page = (await queue.getFailed(start, start + PAGE_SIZE - 1)) as Job<DeliveryJobData>[];
    for (const job of page) {
      if ((job.finishedOn ?? 0) < cutoff) return chosen;
      if (chosen.length >= limit) return chosen;
      chosen.push(job);
    }
    if (page.length < PAGE_SIZE) break;
  }
  return chosen;
}
