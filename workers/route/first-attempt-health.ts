/**
 * One router's view of whether a target is worth a first attempt: a target that keeps failing, or
 * keeps answering after the deadline, gets none for a while (its deliveries go straight to jobs),
 * then one probe; the probe's answer within the deadline lets first attempts go again, another
 * failure doubles the wait. Local to the process and kept in memory: it only decides who makes
 * an attempt (the router or a worker), never whether one is made. Time is injected for tests.
 */

/** Consecutive failed or late first attempts after which a target gets none for a while. */
export const STOP_AFTER = 3;
/** The first pause; doubled after each failed probe up to MAX_PAUSE_MS. */
export const FIRST_PAUSE_MS = 1_000;
export const MAX_PAUSE_MS = 30_000;

/** What the router may do for a target's next delivery. */
export type FirstAttemptMode =
  /** Attempt it within the batch (bounded by the deadline). */
  | 'attempt'
  /** Attempt it as a probe: its job is queued first and the batch does not wait for it. */
  | 'probe'
  /** Queue a job: no first attempt by the router. */
  | 'skip';

/** How a first attempt ended, for the health of its target. */
export type AttemptHealth = 'ok' | 'late' | 'failed';

export class FirstAttemptHealth {
  private bad = 0;
  private pausedUntil = 0;
  private pauseMs = FIRST_PAUSE_MS;
  private probing = false;

  constructor(private readonly now: () => number = Date.now) {}

  /** The mode for the next delivery; 'probe' is handed out once until that probe ends. */
  next(): FirstAttemptMode {
    if (this.bad < STOP_AFTER) return 'attempt';
    if (this.probing || this.now() < this.pausedUntil) return 'skip';
    this.probing = true;
    return 'probe';
  }

  /** The probe handed out by next() could not be made: the next call hands it out again. */
  probeNotMade(): void {
    this.probing = false;
  }

  /** Whether first attempts are stopped for now (for logs). */
  get stopped(): boolean {
    return this.bad >= STOP_AFTER;
  }

  /** A first attempt (or probe) ended. Returns true when this stopped first attempts or let them go again. */
  ended(health: AttemptHealth, probe: boolean): boolean {
    const wasStopped = this.stopped;
    if (probe) this.probing = false;
    if (health === 'ok') {
      this.bad = 0;
      this.pauseMs = FIRST_PAUSE_MS;
      return wasStopped;
    }
    this.bad += 1;
    if (probe || this.bad === STOP_AFTER) {
      this.pausedUntil = this.now() + this.pauseMs;
      if (probe) this.pauseMs = Math.min(MAX_PAUSE_MS, this.pauseMs * 2);
    }
    return !wasStopped && this.stopped;
  }
}
