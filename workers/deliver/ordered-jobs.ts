/**
 * A delivery worker's part in ordered delivery (docs/RELIABILITY.md, "Ordered delivery per key"):
 * before an attempt, the job must be its key's released head, else it goes back to BullMQ's
 * delayed state (held); a replayed dead letter enters its key again first; once BullMQ has marked
 * a job completed or failed, its key goes to the next delivery, which is promoted.
 */
import { DelayedError, type Job, type Queue } from 'bullmq';
import type { Logger } from '../../src/lib/logger.js';
import type { OrderTag } from '../../src/shared/names.js';
import { HELD_DELAY_MS, promoteHeld, type FinishOutcome, type KeyGate } from '../../src/targets/key-gate.js';
import type { TrackedDeliveryData } from './progress.js';

/** The states of a dead letter that someone re-queued (replay, Bull Board's retry) and no worker entered yet. */
const REQUEUED_STATES: ReadonlySet<string> = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

export class OrderedJobs {
  private finishFailing = false;
  /** Releases under way, awaited before the worker's connection closes. */
  private readonly finishing = new Set<Promise<void>>();

  constructor(
    readonly gate: KeyGate,
    private readonly queue: Queue,
    private readonly log: Logger,
  ) {}

  /**
   * Resolves when `job` may be attempted now (it has no key, or it is its key's head). Otherwise
   * the job is held: moved to the delayed state, and DelayedError is thrown (BullMQ's manual delay).
   */
  async admit(job: Job<TrackedDeliveryData>, token: string | undefined): Promise<void> {
    const tag = job.data.order;
    if (!tag) return;
    const jobId = job.id!;
    let admission = await this.gate.admit(tag.key, jobId);
    if (admission === 'gone') {
      await this.reenter(job, tag);
      admission = await this.gate.admit(tag.key, jobId);
    }
    if (admission === 'go') return;
    await job.moveToDelayed(Date.now() + HELD_DELAY_MS, token);
    // Released while it was being moved: whoever released it found it not yet delayed.
    if (await this.gate.isHead(tag.key, jobId)) await promoteHeld(this.queue, jobId);
    throw new DelayedError();
  }

  /** After BullMQ marked `job` completed or failed: its key goes to the next delivery. Never throws. */
  finished(job: Job<TrackedDeliveryData> | undefined, outcome: FinishOutcome): Promise<void> {
    const tag = job?.data.order;
    if (!job?.id || !tag) return Promise.resolve();
    const release = this.release(job.id, tag, outcome).finally(() => this.finishing.delete(release));
    this.finishing.add(release);
    return release;
  }

  /** Waits for the releases under way (a closing worker, before its connection goes). */
  async drain(): Promise<void> {
    await Promise.all([...this.finishing]);
  }

  private async release(jobId: string, tag: OrderTag, outcome: FinishOutcome): Promise<void> {
    try {
      const next = await this.gate.finish(tag.key, jobId, outcome);
      if (next) await promoteHeld(this.queue, next);
      this.finishFailing = false;
    } catch (error) {
      // The reconciler finds the key held by a finished job and releases it.
      if (!this.finishFailing) this.log.warn({ err: error, callbackId: jobId, key: tag.key }, 'could not release the key of a finished ordered delivery; the reconciler will');
      this.finishFailing = true;
    }
  }

  /**
   * A dead letter someone re-queued is no longer in the gate: it enters its key again, at the
   * end, and so do the key's other re-queued dead letters that came before it, first and in
   * their original order, so the replayed ones keep their order whichever a worker picks first.
   */
  private async reenter(job: Job<TrackedDeliveryData>, tag: OrderTag): Promise<void> {
    const parked = await this.gate.parked(tag.key);
    const own = parked.find((entry) => entry.jobId === job.id)?.position ?? tag.at;
    const earlier = parked.filter((entry) => entry.jobId !== job.id && entry.position < own);
    const states = await Promise.all(earlier.map((entry) => this.queue.getJobState(entry.jobId)));
    const requeued = earlier.filter((_entry, index) => REQUEUED_STATES.has(states[index]!));
    const released = await this.gate.reenter(tag.key, [...requeued, { position: own, jobId: job.id! }]);
    this.log.info({ callbackId: job.id, key: tag.key, before: requeued.map((entry) => entry.jobId) }, 'replayed ordered delivery entered its key again, at the end');
    if (released && released !== job.id) await promoteHeld(this.queue, released);
  }
}
