/**
 * The delivery worker of one target: a BullMQ Worker on the target's own queue and connection,
 * with the target's concurrency and rate limit, so a down, slow or rate-limited target never
 * delays another. Each job is one callback for this target; each run of the processor is at most
 * one attempt.
 *
 * The worker owns the retry schedule, through BullMQ's public API only: it counts attempts in the
 * job's data (progress.ts), schedules each retry with `job.moveToDelayed` + `DelayedError` (BullMQ's
 * documented manual delay), and dead-letters with DeadLetterError (an UnrecoverableError). The
 * count and the retry timer live in Redis, so both survive crashes. The target's circuit breaker
 * (breaker.ts) holds deliveries without spending attempts while the target only fails. A target
 * with `ordering` attempts only its keys' heads (ordered-jobs.ts): a retrying head holds its key.
 */
import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { RelayConfig, Target } from '../../src/config/load.js';
import { withTimeout } from '../../src/lib/with-timeout.js';
import { deliveries, deliveryDuration } from '../../src/shared/metrics.js';
import { createWorkerConnection } from '../../src/redis/connection.js';
import { workerOutageLog } from '../../src/redis/outage.js';
import { queueOptions } from '../../src/redis/queues.js';
import { deliveryQueueName } from '../../src/shared/names.js';
import { traceLogFields } from '../../src/trace/log-fields.js';
import { createTargetClient, type AttemptResult, type TargetClient } from './attempt.js';
import { attemptLine, jobLogLine } from './attempt-log.js';
import { TargetBreaker } from './breaker.js';
import { BreakerStore } from '../../src/targets/breaker-store.js';
import { countsForBreaker, decideDelivery } from './decision.js';
import { DeliveryRecorder } from '../../src/targets/delivery-record.js';
import { startGateReconciler } from './gate-reconciler.js';
import { KeyGate, gateSettings } from '../../src/targets/key-gate.js';
import { OrderedJobs } from './ordered-jobs.js';
import { afterFailedAttempt, asDeadLetter, DeadLetterError, nextAttempt, type TrackedDeliveryData } from './progress.js';

/**
 * A crash while delivering puts the job back (at-least-once). More than this many crashes on the
 * same job and BullMQ dead-letters it instead, so a delivery that kills its worker cannot loop forever.
 */
const MAX_STALLED_COUNT = 3;

/** After a forced shutdown has aborted the requests, how long to wait for BullMQ to settle. */
const FORCED_CLOSE_GRACE_MS = 2_000;

/**
 * The longest single hold while the breaker is open. Holds are re-checked at least this often, so
 * once a probe has closed the breaker every worker process resumes within this time.
 */
const HOLD_RECHECK_MS = 5_000;

/**
 * A limiter so high it never limits. BullMQ honours a hold (`Queue.rateLimit`) in every worker
 * process only when the worker has a limiter; a target without a rate limit of its own gets this one.
 */
const UNLIMITED = { max: 1_000_000_000, duration: 1_000 };

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

export interface DeliveryWorkerOptions {
  /**
   * The target's HTTP client, shared with the router's first attempts in this process so that
   * `concurrency` bounds the requests in flight to the target from both. @defaultValue its own
   */
  readonly client?: TargetClient;
}

/** Starts the worker of one target. Jobs are fetched as soon as the connection is up. */
export function startDeliveryWorker(target: Target, config: RelayConfig, logger: Logger, options: DeliveryWorkerOptions = {}): DeliveryWorker {
  const outage = workerOutageLog(logger);
  const connection = createWorkerConnection(config.redis, { name: `worker:${target.name}`, outage });
  const client = options.client ?? createTargetClient(target, config.delivery);
  // A shared client belongs to whoever made it; the worker closes only its own.
  const ownClient = options.client === undefined;
  let forcedShutdown = false;
  const log = logger.child({ target: target.name });
  const queueName = deliveryQueueName(target.name);
  // The worker's handle on its own queue: only for holds (rateLimit) and ending them.
  const queue = new Queue(queueName, queueOptions(config, queueName, connection));
  queue.on('error', () => {});
  const breaker = target.breaker
    ? new TargetBreaker(new BreakerStore(connection, config.redis.prefix, target.name), target.breaker, log)
    : undefined;
  // Every delivery is recorded, so "was it delivered?" has one answer wherever the attempt was made.
  const recorder = new DeliveryRecorder(connection, config.redis.prefix, config.retention.completedCount, log);
  // Only for a target with `ordering`: one delivery at a time per key (ordered-jobs.ts).
  const ordered = target.ordering ? new OrderedJobs(new KeyGate(connection, config.redis.prefix, target.name, gateSettings(config)), queue, log) : undefined;

  /** Puts the job back in the queue (at its end) without spending an attempt. */
  const putBack = async (job: Job<TrackedDeliveryData>, token: string | undefined): Promise<never> => {
    await job.moveToDelayed(Date.now(), token);
    throw new DelayedError();
  };

  /** Holds the whole queue (every worker process) for `ms`; the job goes back without an attempt. */
  const hold = async (ms: number): Promise<never> => {
    await queue.rateLimit(Math.min(ms, HOLD_RECHECK_MS));
    throw Worker.RateLimitError();
  };

  const deadLetter = async (job: Job<TrackedDeliveryData>, attempt: number, result: AttemptResult & { error: Error }, reason: string): Promise<never> => {
    deliveries.inc({ target: target.name, outcome: 'dead' });
    const line = attemptLine(job.data, attempt, result, 'dead');
    log.error(line, 'delivery failed; dead-lettered');
    // Marked first, so a retry from Bull Board or `replay` is recognised and starts afresh.
    await Promise.all([jobLog(job, attempt, result), job.updateData(asDeadLetter(job.data, attempt))]);
    throw new DeadLetterError(reason);
  };

  const processor = async (job: Job<TrackedDeliveryData>, token?: string) => {
    // A later delivery of its key goes back to the delayed state: it is held, not attempted.
    if (ordered) await ordered.admit(job, token);
    // The router's first attempt already dead-lettered it (and logged and counted that attempt).
    const routedDead = job.data.deadLetterNow;
    if (routedDead !== undefined) {
      await job.updateData(asDeadLetter(job.data));
      throw new DeadLetterError(routedDead);
    }
    const admission = breaker ? await breaker.admit() : undefined;
    if (admission?.kind === 'hold') return hold(admission.ms);
    const attempt = nextAttempt(job.data);
    const result = await client.attempt(job.data, attempt);
    deliveryDuration.observe({ target: target.name }, result.durationMs / 1000);
    const shuttingDown = forcedShutdown;
    const verdict = breaker && countsForBreaker(result, shuttingDown) ? await breaker.failed(result.error!.message) : undefined;
    const decision = decideDelivery({ result, attempt, breaker: verdict, retry: target.retry, shuttingDown, random: Math.random });

    switch (decision.kind) {
      case 'delivered':
        deliveries.inc({ target: target.name, outcome: 'delivered' });
        log.info(attemptLine(job.data, attempt, result, 'delivered'), 'delivered');
        recorder.add(target.name, { callbackId: job.data.callbackId, event: job.data.event, attempt, status: result.status!, durationMs: result.durationMs, by: 'worker' });
        // A probe that closed the breaker ends the hold at once for every worker process.
        if (breaker && (await breaker.delivered())) await queue.removeRateLimitKey();
        return { status: result.status, attempt };
      case 'interrupted':
        log.warn(attemptLine(job.data, attempt, result, 'interrupted'), 'delivery interrupted by shutdown; put back');
        return putBack(job, token);
      case 'held':
        deliveries.inc({ target: target.name, outcome: 'retry' });
        // Debug only: the breaker logs its opening and each change of a failing probe's error once.
        log.debug(attemptLine(job.data, attempt, result, 'held'), 'delivery failed while the breaker is open; held, no attempt spent');
        if (decision.opened && breaker) await queue.rateLimit(Math.min(breaker.policy.probeInterval, HOLD_RECHECK_MS));
        return putBack(job, token);
      case 'dead':
        return deadLetter(job, attempt, { ...result, error: result.error! }, decision.reason);
      case 'retry':
        deliveries.inc({ target: target.name, outcome: 'retry' });
        log.warn(attemptLine(job.data, attempt, result, 'retry'), 'delivery failed; will retry');
        await Promise.all([jobLog(job, attempt, { ...result, error: result.error! }), job.updateData(afterFailedAttempt(job.data, attempt))]);
        await job.moveToDelayed(Date.now() + decision.delayMs, token);
        throw new DelayedError();
    }
  };

  const worker = new Worker<TrackedDeliveryData>(queueName, processor, {
    ...queueOptions(config, queueName, connection),
    concurrency: target.concurrency,
    ...(target.rateLimit ? { limiter: { max: target.rateLimit.max, duration: target.rateLimit.duration } } : breaker ? { limiter: UNLIMITED } : {}),
    lockDuration: config.delivery.lockDuration,
    stalledInterval: config.delivery.stalledInterval,
    maxStalledCount: MAX_STALLED_COUNT,
  });
  // Without a listener an 'error' event would crash the process. Redis outages are expected and
  // the connection retries on its own: the role's outage log reports them once, not per retry.
  worker.on('error', (error) => {
    if (!outage.absorbs(error)) log.error({ err: error }, 'delivery worker error');
  });
  if (ordered) worker.on('completed', (job) => void ordered.finished(job, 'delivered'));
  worker.on('failed', (job, error) => {
    // A dead letter of any kind releases its key: the next delivery of the key goes.
    if (ordered) void ordered.finished(job, 'dead');
    // The worker's own dead letters are counted and marked above. Any other failure happened
    // outside the schedule: BullMQ failed a job that stalled too often (its worker kept dying),
    // or something unexpected was thrown. Count it, say so, and mark it like a dead letter.
    if (!job || error instanceof DeadLetterError) return;
    deliveries.inc({ target: target.name, outcome: 'dead' });
    log.error({ callbackId: job.data.callbackId, error: error.message, ...traceLogFields(job.data.traceContext) }, 'delivery dead-lettered outside the retry schedule (crashed workers or an unexpected error)');
    job.updateData(asDeadLetter(job.data)).catch((markError: unknown) => log.warn({ err: markError, callbackId: job.data.callbackId }, 'could not mark the dead letter'));
  });

  const reconciler = ordered
    ? startGateReconciler({ gate: ordered.gate, queue, connection, prefix: config.redis.prefix, intervalMs: config.delivery.stalledInterval, log })
    : undefined;

  let closing: Promise<void> | undefined;
  return {
    target,
    ready: () => worker.waitUntilReady(),
    close(timeoutMs) {
      closing ??= (async () => {
        const graceful = worker.close();
        if (!(await settledWithin(graceful, timeoutMs))) {
          log.warn({ timeoutMs }, 'deliveries still in flight at the shutdown deadline; aborting them');
          forcedShutdown = true;
          client.abortInFlight();
          await settledWithin(graceful, FORCED_CLOSE_GRACE_MS);
        }
        await reconciler?.stop();
        await ordered?.drain();
        await recorder.flush();
        await queue.close().catch(() => {});
        if (ownClient) client.close();
        connection.disconnect();
      })();
      return closing;
    },
  };
}

/** Shown in Bull Board's log tab next to failedReason: every spent attempt, not only the last. */
async function jobLog(job: Job<TrackedDeliveryData>, attempt: number, result: AttemptResult & { error: Error }): Promise<void> {
  await job.log(jobLogLine(attempt, result)).catch(() => {});
}

/** True once `work` has settled (either way) within `ms`, false when the deadline came first. */
function settledWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  return withTimeout(work.then(() => true, () => true), ms, () => new Error('deadline')).catch(() => false);
}
