/**
 * The delivery worker of one target: a BullMQ Worker on the target's own queue and connection,
 * with the target's concurrency and rate limit, so a down, slow or rate-limited target never
 * delays another. Each job is one callback for this target; each run of the processor is one
 * attempt. BullMQ keeps the attempt count and the retry timer in Redis, so both survive crashes.
 */
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { RelayConfig, Target } from '../config/load.js';
import { DeliveryError } from '../errors.js';
import { deliveries, deliveryDuration } from '../shared/metrics.js';
import { createWorkerConnection } from '../store/redis.js';
import { deliveryQueueName, queueOptions, type DeliveryJobData } from '../store/queues.js';
import { createTargetClient, type AttemptResult } from './attempt.js';
import { retryDelay } from './backoff.js';
import { BACKOFF_TYPE } from './job-options.js';

/**
 * A crash while delivering puts the job back (at-least-once). More than this many crashes on the
 * same job and it is dead-lettered instead, so a delivery that kills its worker cannot loop forever.
 */
const MAX_STALLED_COUNT = 3;

/** BullMQ's failedReason for a job that stalled more than MAX_STALLED_COUNT times (moveStalledJobsToWait). */
const STALLED_TOO_OFTEN = 'job stalled more than allowable limit';

/** After a forced shutdown has aborted the requests, how long to wait for BullMQ to settle. */
const FORCED_CLOSE_GRACE_MS = 2_000;

export interface DeliveryWorker {
  readonly target: Target;
  /** Resolves once the worker's Redis connection is ready. */
  ready(): Promise<void>;
  /**
   * Stops taking jobs and waits up to `timeoutMs` for deliveries in flight. Past that, in-flight
   * requests are aborted and their jobs put back in the queue without using up an attempt.
   */
  close(timeoutMs: number): Promise<void>;
}

/** Starts the worker of one target. Jobs are fetched as soon as the connection is up. */
export function startDeliveryWorker(target: Target, config: RelayConfig, logger: Logger): DeliveryWorker {
  const connection = createWorkerConnection(config.redis.url, `worker:${target.name}`);
  const client = createTargetClient(target, config.delivery);
  let forcedShutdown = false;
  const log = logger.child({ target: target.name });

  const processor = async (job: Job<DeliveryJobData>, token?: string) => {
    await grantFreshAttemptsToRetriedDeadLetter(job);
    const attempt = job.attemptsMade + 1;
    const result = await client.attempt(job.data, attempt);
    deliveryDuration.observe({ target: target.name }, result.durationMs / 1000);

    if (!result.error) {
      deliveries.inc({ target: target.name, outcome: 'delivered' });
      log.info(attemptLine(job, attempt, result, 'delivered'), 'delivered');
      return { status: result.status, attempt };
    }
    if (forcedShutdown && result.status === undefined) {
      // Our own shutdown cut the request: not the target's fault, so no attempt is used up.
      log.warn(attemptLine(job, attempt, result, 'interrupted'), 'delivery interrupted by shutdown; put back');
      await job.moveToDelayed(Date.now(), token);
      throw new DelayedError();
    }
    const willRetry = result.error.retryable && attempt < (job.opts.attempts ?? 1);
    const outcome = willRetry ? 'retry' : 'dead';
    deliveries.inc({ target: target.name, outcome });
    const line = attemptLine(job, attempt, result, outcome);
    log[willRetry ? 'warn' : 'error'](line, willRetry ? 'delivery failed; will retry' : 'delivery failed; dead-lettered');
    // Shown in Bull Board's log tab next to failedReason: every failed attempt, not only the last.
    await job.log(`attempt ${attempt}: ${result.error.message} (${line.durationMs} ms)`).catch(() => {});
    if (!result.error.retryable) throw new UnrecoverableError(result.error.message);
    throw result.error;
  };

  /**
   * Bull Board's retry button calls `job.retry('failed')`, which moves a dead letter back to the
   * queue with its attempts still used up, so BullMQ would dead-letter it again after one try.
   * BullMQ never runs a job whose attempts are exhausted on its own, so seeing one means a person
   * asked for it: give it the full schedule again, like `replayDeadLetters` does.
   */
  const grantFreshAttemptsToRetriedDeadLetter = async (job: Job<DeliveryJobData>) => {
    if (job.attemptsMade < (job.opts.attempts ?? 1) || job.id === undefined) return;
    await connection.hset(worker.toKey(job.id), 'atm', 0);
    job.attemptsMade = 0;
  };

  const queueName = deliveryQueueName(target.name);
  const worker = new Worker<DeliveryJobData>(queueName, processor, {
    ...queueOptions(config, queueName, connection),
    concurrency: target.concurrency,
    ...(target.rateLimit ? { limiter: { max: target.rateLimit.max, duration: target.rateLimit.duration } } : {}),
    lockDuration: config.delivery.lockDuration,
    stalledInterval: config.delivery.stalledInterval,
    maxStalledCount: MAX_STALLED_COUNT,
    settings: {
      backoffStrategy: (attemptsMade: number, _type?: string, error?: Error) =>
        retryDelay({
          retryNumber: attemptsMade,
          schedule: target.retry.schedule,
          jitter: target.retry.jitter,
          ...(error instanceof DeliveryError && error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}),
          random: Math.random,
        }),
    },
  });
  // Without a listener an 'error' event would crash the process; Redis outages are expected and
  // the connection retries on its own.
  worker.on('error', (error) => log.error({ err: error }, 'delivery worker error'));
  worker.on('failed', (job, error) => {
    // Failures the processor did not see: a job that stalled too often (its worker kept dying).
    if (job && error.message === STALLED_TOO_OFTEN) {
      deliveries.inc({ target: target.name, outcome: 'dead' });
      log.error({ callbackId: job.data.callbackId, error: error.message }, 'delivery dead-lettered after repeated crashes');
    }
  });

  let closing: Promise<void> | undefined;
  return {
    target,
    ready: () => worker.waitUntilReady(),
    close(timeoutMs) {
      closing ??= (async () => {
        const graceful = worker.close();
        if (!(await settlesWithin(graceful, timeoutMs))) {
          log.warn({ timeoutMs }, 'deliveries still in flight at the shutdown deadline; aborting them');
          forcedShutdown = true;
          client.abortInFlight();
          await settlesWithin(graceful, FORCED_CLOSE_GRACE_MS);
        }
        client.close();
        connection.disconnect();
      })();
      return closing;
    },
  };
}

/** The one log line of an attempt: never the body, a header or a secret. */
function attemptLine(job: Job<DeliveryJobData>, attempt: number, result: AttemptResult, outcome: string) {
  return {
    callbackId: job.data.callbackId,
    event: job.data.event,
    attempt,
    status: result.status ?? null,
    durationMs: result.durationMs,
    outcome,
    ...(result.error ? { error: result.error.message } : {}),
  };
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
