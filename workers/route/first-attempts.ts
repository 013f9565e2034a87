/**
 * The router's first attempts (docs/RELIABILITY.md, "First attempts by the router"): for a batch's
 * deliveries to targets that allow it, the router POSTs the first attempt itself instead of queueing
 * a job, so a delivery the target takes at once costs no BullMQ job. What did not deliver becomes a
 * job that goes on where a worker's first attempt would have left it (workers/deliver/decision.ts, workers/deliver/first-attempt.ts).
 *
 * The batch waits for its attempts only until `intake.firstAttemptDeadline`: an attempt still
 * running then is handed to a job that counts it and waits past the attempt's timeout; its answer,
 * when it comes, moves the job (2xx: removed; a failure: rescheduled or dead-lettered). A target
 * whose first attempts keep failing or coming late gets none for a while, then one probe at a time
 * whose job is queued first, so a slow or failing target never holds a batch for long.
 *
 * Every attempt is logged, counted and told to the breaker exactly as a worker's attempt is.
 */
import type { JobsOptions, Queue } from 'bullmq';
import type { RelayConfig } from '../../src/config/load.js';
import type { AttemptHandle, AttemptResult, TargetClient } from '../deliver/attempt.js';
import { attemptLine, jobLogLine } from '../deliver/attempt-log.js';
import type { DeliveryRecorder } from '../../src/targets/delivery-record.js';
import { countsForBreaker, decideDelivery, type DeliveryDecision } from '../deliver/decision.js';
import { handoffDelay } from '../deliver/first-attempt.js';
import { afterFailedAttempt, deadOnFirstAttempt } from '../deliver/progress.js';
import type { Logger } from '../../src/lib/logger.js';
import type { DeliveryJobData } from '../../src/shared/names.js';
import type { RedisConnection } from '../../src/redis/connection.js';
import type { OrderedRouting, PlannedJob } from './ordered-routing.js';
import { TargetLanes, type SlotTurn, type TargetLane } from './target-lanes.js';

/** A delivery the router may attempt. */
export interface FirstAttemptDelivery {
  readonly target: { readonly name: string };
  /** The job's data, should it become one (an ordered delivery's carries its order tag). */
  readonly data: DeliveryJobData;
  /**
   * An ordered head's later deliveries of the same key in this batch, in order, each as its held
   * job (router.ts): attempted one after another, each once the one before was delivered.
   */
  readonly followers?: readonly PlannedJob[];
}

export interface BatchAttempts {
  /** A job for each delivery the batch did not deliver. */
  readonly jobs: PlannedJob[];
  /** Ordered heads delivered: their keys go on to the next delivery. */
  readonly deliveredHeads: FirstAttemptDelivery[];
  /** Ordered heads whose job waits (a retry, an attempt still running): admitted as running. */
  readonly retryingHeads: FirstAttemptDelivery[];
  /** Deliveries a chain's finish released that are not the chain's own: to promote once queued. */
  readonly released: { target: string; jobId: string }[];
  /** Pass the queueing of `jobs`: answers that come after the deadline then move their jobs. */
  queued(done: Promise<unknown>): void;
}

/** An attempt the batch started and has not let go of. */
interface Started {
  readonly lane: TargetLane;
  readonly delivery: FirstAttemptDelivery;
  readonly at: number;
  /** Cuts the request (our shutdown). */
  readonly handle: AttemptHandle;
  running?: Promise<AttemptResult>;
  /** Handed to a job at the deadline: its answer goes the late way. */
  handedOff: boolean;
  /** Already told its lane it was late. */
  judged: boolean;
}

export interface FirstAttemptsOptions {
  readonly config: RelayConfig;
  readonly queues: ReadonlyMap<string, Queue<DeliveryJobData>>;
  /** Each target's job options (the job id is added per delivery). */
  readonly jobOptions: ReadonlyMap<string, JobsOptions>;
  /** The targets' clients, shared with this process's workers; missing ones are made here. */
  readonly clients?: ReadonlyMap<string, TargetClient> | undefined;
  /** For the breakers' state. */
  readonly connection: RedisConnection;
  readonly recorder: DeliveryRecorder;
  readonly log: Logger;
  /** Only with an ordered target: a late 2xx releases its key. */
  readonly ordering: OrderedRouting | undefined;
}

export class FirstAttempts {
  private readonly lanes: TargetLanes;
  /** Attempts answering after their batch moved on, and what they do to their jobs. */
  private readonly late = new Set<Promise<void>>();
  /** Those still waiting for their answer. */
  private readonly unanswered = new Set<Started>();
  private closing = false;

  constructor(private readonly options: FirstAttemptsOptions) {
    this.lanes = new TargetLanes(options.config, options.queues, options.clients, options.connection, options.log);
  }

  /** Resolves once every target's pause and breaker state was read once. */
  ready(): Promise<void> {
    return this.lanes.ready;
  }

  /** Whether the router attempts deliveries to `targetName` (config; the state is looked at per delivery). */
  attempts(targetName: string): boolean {
    return this.lanes.lanes.has(targetName);
  }

  /**
   * Makes the first attempts of a batch's deliveries (all targets at once) and resolves, at the
   * latest at the deadline, with the jobs to queue for what was not delivered. Callbacks rather than
   * a promise per delivery: this runs for every delivery of a busy relay.
   */
  run(batch: readonly FirstAttemptDelivery[]): Promise<BatchAttempts> {
    const deadlineMs = this.options.config.intake.firstAttemptDeadline;
    const lateMs = deadlineMs * LATE_FRACTION;
    const jobs: PlannedJob[] = [];
    const deliveredHeads: FirstAttemptDelivery[] = [];
    const retryingHeads: FirstAttemptDelivery[] = [];
    const released: { target: string; jobId: string }[] = [];
    let settleQueued: (done: Promise<unknown>) => void = () => {};
    const queued = new Promise<unknown>((resolve) => {
      settleQueued = resolve;
    });
    // It takes the batch's own outcome, a rejection when the batch could not be queued; only a late
    // answer awaits it (answeredLate), so a batch without one must not leave it unhandled.
    queued.catch(() => {});
    const asJob = (delivery: FirstAttemptDelivery, data: DeliveryJobData = delivery.data, extra: JobsOptions = {}, logLine?: string) => {
      const opts = { ...this.options.jobOptions.get(delivery.target.name), jobId: delivery.data.callbackId, ...extra };
      jobs.push({ queue: delivery.target.name, data, opts, ...(logLine ? { logLine } : {}) });
    };
    /** The key's later deliveries wait behind `delivery`'s job as held jobs, as if never chained. */
    const holdFollowers = (delivery: FirstAttemptDelivery) => {
      for (const job of delivery.followers ?? []) jobs.push(job);
    };
    /** A job for an attempt that has not answered yet; `judge`: what its answer tells its lane. */
    const handOff = (started: Started, judge: LateJudgement) => {
      started.handedOff = true;
      const { lane, delivery } = started;
      const delay = handoffDelay({ elapsedMs: performance.now() - started.at, timeoutMs: lane.target.timeout, retry: lane.target.retry, random: Math.random });
      asJob(delivery, afterFailedAttempt(delivery.data, 1), { delay });
      if (delivery.data.order) retryingHeads.push(delivery);
      holdFollowers(delivery);
      this.unanswered.add(started);
      this.track(
        started.running!.then((result) => {
          this.unanswered.delete(started);
          return this.answeredLate(lane, delivery, result, queued, judge);
        }),
      );
    };

    return new Promise<BatchAttempts>((resolve) => {
      /** Deliveries the batch still waits for: waiting for a slot, running, being settled, or chained behind one. */
      let open = 0;
      let ended = false;
      /** The deadline passed: no chain starts another attempt. */
      let late = false;
      const turns: { turn: SlotTurn; delivery: FirstAttemptDelivery; lane: TargetLane }[] = [];
      const running = new Set<Started>();
      /** Per lane used, how to stop listening to its stop. */
      const watching = new Map<TargetLane, () => void>();
      const end = () => {
        if (ended || open > 0) return;
        ended = true;
        clearTimeout(lateCheck);
        clearTimeout(timer);
        for (const unwatch of watching.values()) unwatch();
        resolve({ jobs, deliveredHeads, retryingHeads, released, queued: (done) => settleQueued(done) });
      };
      /** No answer within LATE_FRACTION of the deadline: late, for the health of its target (once per attempt). */
      const judgeLate = (started: Started) => {
        if (started.judged || performance.now() - started.at < lateMs) return;
        started.judged = true;
        started.lane.ended('late', false);
      };
      /**
       * The batch lets go of a lane's deliveries (of every lane at the deadline): the waiting ones
       * become jobs as if the router had not been there, the running ones are handed to jobs.
       */
      const letGo = (only?: TargetLane) => {
        if (!only) late = true;
        for (const { turn, delivery, lane } of turns) {
          if ((only && lane !== only) || !turn.cancel()) continue;
          asJob(delivery);
          holdFollowers(delivery);
          open -= 1 + (delivery.followers?.length ?? 0);
        }
        for (const started of [...running]) {
          if (only && started.lane !== only) continue;
          running.delete(started);
          judgeLate(started);
          started.lane.log.debug({ callbackId: started.delivery.data.callbackId, deadlineMs }, 'first attempt without an answer yet; handed to a job');
          handOff(started, started.judged ? 'told' : 'attempt');
          open -= 1 + (started.delivery.followers?.length ?? 0);
        }
        end();
      };
      /**
       * A chained head was delivered: the gate finishes it now and names the key's next delivery.
       * When that is its first follower, the follower is attempted next (unless the batch or its
       * target was let go of: then it is queued waiting, released); otherwise the followers stay
       * held. Resolves with how many of the followers the batch stops waiting for.
       */
      const chainOn = async (lane: TargetLane, delivery: FirstAttemptDelivery): Promise<number> => {
        const followers = delivery.followers!;
        const { order, callbackId } = delivery.data;
        const next = await this.options.ordering!.delivered(lane.target.name, order!.key, callbackId).catch(() => {
          // Not finished: the batch finishes it with the others (headsAfterFirstAttempts), or fails.
          deliveredHeads.push(delivery);
          return undefined;
        });
        const [first, ...rest] = followers;
        if (!first || next !== first.data.callbackId) {
          if (next) released.push({ target: lane.target.name, jobId: next });
          holdFollowers(delivery);
          return followers.length;
        }
        const follower: FirstAttemptDelivery = { target: delivery.target, data: first.data, followers: rest };
        const mode = late ? 'skip' : lane.mode();
        if (mode === 'attempt') {
          turns.push({ delivery: follower, lane, turn: lane.slots.take(() => start(lane, follower, false)) });
          return 0;
        }
        if (mode === 'probe') start(lane, follower, true);
        else {
          asJob(follower);
          holdFollowers(follower);
        }
        return followers.length;
      };
      /** Settles an answer in time; resolves with how many of its followers the batch stops waiting for. */
      const answered = async (started: Started, result: AttemptResult): Promise<number> => {
        const { lane, delivery } = started;
        // Only attempts handed to a job are cut by our shutdown (close), never these.
        const decision = await this.settle(lane, delivery, result, false);
        lane.ended(result.error?.retryable ? 'failed' : 'ok', false);
        const { data } = delivery;
        if (decision.kind === 'delivered' && data.order && delivery.followers?.length) return chainOn(lane, delivery);
        holdFollowers(delivery);
        switch (decision.kind) {
          case 'delivered':
            if (data.order) deliveredHeads.push(delivery);
            break;
          case 'retry':
            asJob(delivery, afterFailedAttempt(data, 1), { delay: decision.delayMs }, jobLogLine(1, { ...result, error: result.error! }));
            if (data.order) retryingHeads.push(delivery);
            break;
          // The breaker holds the job (a cut attempt would go back the same way): not spent.
          case 'held':
          case 'interrupted':
            asJob(delivery);
            break;
          case 'dead':
            asJob(delivery, deadOnFirstAttempt(data, decision.reason), {}, jobLogLine(1, { ...result, error: result.error! }));
            break;
        }
        return delivery.followers?.length ?? 0;
      };
      const start = (lane: TargetLane, delivery: FirstAttemptDelivery, probe: boolean) => {
        const started: Started = { lane, delivery, at: performance.now(), handle: {}, handedOff: false, judged: false };
        started.running = lane.client.attempt(delivery.data, 1, undefined, started.handle);
        void started.running.then((result) => {
          lane.slots.release();
          if (started.handedOff) return;
          running.delete(started);
          answered(started, result)
            .catch((error: unknown) => {
              // Never expected (settle does not throw): the delivery becomes a job, as if not attempted.
              lane.log.error({ err: error, callbackId: delivery.data.callbackId }, 'a first attempt could not be settled; queued as a job');
              asJob(delivery);
              holdFollowers(delivery);
              return delivery.followers?.length ?? 0;
            })
            .then((done) => {
              open -= 1 + done;
              end();
            });
        });
        // A probe's job is queued first: the batch never waits for a target that was slow.
        if (probe) handOff(started, 'probe');
        else running.add(started);
      };

      for (const delivery of batch) {
        const lane = this.lanes.lanes.get(delivery.target.name);
        const mode = lane?.mode() ?? 'skip';
        if (!lane || mode === 'skip') {
          asJob(delivery);
          holdFollowers(delivery);
        } else if (mode === 'probe') start(lane, delivery, true);
        else {
          open += 1 + (delivery.followers?.length ?? 0);
          // A target found slow meanwhile (by this batch or another) is let go of at once.
          if (!watching.has(lane)) watching.set(lane, lane.onStopped(() => letGo(lane)));
          turns.push({ delivery, lane, turn: lane.slots.take(() => start(lane, delivery, false)) });
        }
      }
      const lateCheck = setTimeout(() => {
        for (const started of running) judgeLate(started);
      }, lateMs);
      const timer = setTimeout(() => letGo(), deadlineMs);
      end();
    });
  }

  /**
   * Waits up to `timeoutMs` for the answers still to come, as a worker waits for its deliveries in
   * flight; then cuts the rest, whose jobs go back to waiting without spending the attempt.
   */
  async close(timeoutMs: number): Promise<void> {
    this.closing = true;
    await settledWithin(Promise.all([...this.late]), timeoutMs);
    for (const started of this.unanswered) started.handle.cut?.();
    await settledWithin(Promise.all([...this.late]), CUT_GRACE_MS);
    await this.lanes.close();
  }

  private track(work: Promise<void>): void {
    const tracked = work.catch((error: unknown) => this.options.log.warn({ err: error }, 'a late first attempt could not update its job; the job runs as queued')).finally(() => this.late.delete(tracked));
    this.late.add(tracked);
  }

  /**
   * Tells the breaker about an attempt, decides what follows (workers/deliver/decision.ts, as the worker
   * does), then logs and counts it. `shuttingDown`: our own shutdown is cutting the attempts.
   */
  private async settle(lane: TargetLane, delivery: FirstAttemptDelivery, result: AttemptResult, shuttingDown: boolean): Promise<DeliveryDecision> {
    const { target, log } = lane;
    const breaker = lane.breaker && countsForBreaker(result, shuttingDown) ? await lane.breaker.failed(result.error!.message).catch(() => 'spent' as const) : undefined;
    const decision = decideDelivery({ result, attempt: 1, breaker, retry: target.retry, shuttingDown, random: Math.random });
    // An attempt our shutdown cut says nothing about the target: not timed.
    if (decision.kind !== 'interrupted') lane.metrics.duration.observe(result.durationMs / 1000);
    const { data } = delivery;
    switch (decision.kind) {
      case 'delivered':
        lane.metrics.outcome.delivered.inc();
        log.info(attemptLine(data, 1, result, 'delivered'), 'delivered');
        this.options.recorder.add(target.name, { callbackId: data.callbackId, event: data.event, attempt: 1, status: result.status!, durationMs: result.durationMs, by: 'router' });
        // A 2xx closing a breaker another process saw open lets every worker fetch again at once.
        if (lane.breaker && (await lane.breaker.delivered().catch(() => false))) await lane.queue.removeRateLimitKey().catch(() => {});
        break;
      case 'retry':
        lane.metrics.outcome.retry.inc();
        log.warn(attemptLine(data, 1, result, 'retry'), 'delivery failed; will retry');
        break;
      case 'held':
        lane.metrics.outcome.retry.inc();
        log.debug(attemptLine(data, 1, result, 'held'), 'delivery failed while the breaker is open; held, no attempt spent');
        break;
      case 'dead':
        lane.metrics.outcome.dead.inc();
        log.error(attemptLine(data, 1, result, 'dead'), 'delivery failed; dead-lettered');
        break;
      case 'interrupted':
        log.warn(attemptLine(data, 1, result, 'interrupted'), 'delivery interrupted by shutdown; put back');
        break;
    }
    return decision;
  }

  /**
   * An attempt answered after its batch handed it to a job (or a probe answered): the job is moved
   * to match, once the batch's jobs are queued. A job already running is left alone: the target
   * may then get the delivery twice (at-least-once).
   */
  private async answeredLate(lane: TargetLane, delivery: FirstAttemptDelivery, result: AttemptResult, queued: Promise<unknown>, judge: LateJudgement): Promise<void> {
    const verdict = await this.settle(lane, delivery, result, this.closing);
    // Cut by our own shutdown: not the target's doing. The job goes back to waiting, unspent.
    const interrupted = verdict.kind === 'interrupted';
    const late = result.durationMs > this.options.config.intake.firstAttemptDeadline * LATE_FRACTION;
    if (judge !== 'told' && !interrupted) lane.ended(result.error?.retryable ? 'failed' : late ? 'late' : 'ok', judge === 'probe');
    try {
      await queued;
    } catch {
      // The batch's jobs were not queued: it is routed again, with a new first attempt.
      return;
    }
    const job = await lane.queue.getJob(delivery.data.callbackId);
    if (!job || (await job.getState()) !== 'delayed') return;
    const { ordering } = this.options;
    const order = delivery.data.order;
    if (verdict.kind === 'delivered') {
      await job.remove();
      if (ordering && order) {
        const next = await ordering.delivered(lane.target.name, order.key, delivery.data.callbackId);
        if (next) await ordering.release(lane.target.name, [next]);
      }
      return;
    }
    if (result.error && !interrupted) await job.log(jobLogLine(1, { ...result, error: result.error })).catch(() => {});
    if (verdict.kind === 'retry') return job.changeDelay(verdict.delayMs);
    await job.updateData(verdict.kind === 'dead' ? deadOnFirstAttempt(delivery.data, verdict.reason) : delivery.data);
    await job.changeDelay(0);
  }
}

/**
 * An attempt with no answer after this fraction of the deadline is late, for its target's health
 * (first-attempt-health.ts): the target is then slow for first attempts, and the batches let go of
 * it at once rather than at the deadline.
 */
export const LATE_FRACTION = 0.25;

/** After cutting the attempts still running at shutdown, how long their jobs get to be put back. */
const CUT_GRACE_MS = 2_000;

/** Resolves once `work` settled or `ms` passed, whichever comes first. */
async function settledWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** What an answer after the deadline tells the target's lane: nothing more ('told'), or how it went. */
type LateJudgement = 'told' | 'attempt' | 'probe';
