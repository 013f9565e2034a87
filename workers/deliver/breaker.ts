/**
 * A target's circuit breaker as one worker process uses it. The state is shared in Redis
 * (breaker-store.ts); this keeps a short-lived local view so a healthy target costs no Redis call
 * per delivery: while the view says "closed, no failure streak" and is younger than `refreshMs`,
 * deliveries go ahead without asking. Once a failure is seen, or the view is stale, Redis decides.
 *
 * Logs: the opening once (by the process whose failure opened it), a failing probe once per change
 * of its error, the closing once (by the process whose delivery closed it).
 */
import type { BreakerPolicy } from '../../src/config/load.js';
import type { Logger } from '../../src/lib/logger.js';
import type { Admission, BreakerStore } from '../../src/targets/breaker-store.js';

/** What became of a failed attempt. */
export type FailedAttemptVerdict =
  /** The breaker is closed: the attempt is spent and the schedule goes on. */
  | 'spent'
  /** The breaker is open: the attempt is not spent; the delivery waits for the breaker. */
  | 'held'
  /** This failure opened the breaker: as 'held', and the queue should stop fetching now. */
  | 'opened';

const DELIVER: Admission = { kind: 'deliver' };

interface LocalView {
  /** Open, or a failure streak under way: Redis must be asked and told. */
  readonly watch: boolean;
  readonly at: number;
}

export class TargetBreaker {
  private view: LocalView = { watch: true, at: 0 };
  private refreshing: Promise<void> | undefined;
  /** How long a "closed, no streak" view is trusted: a fraction of openAfter, at most 1 s. */
  readonly refreshMs: number;

  constructor(
    private readonly store: BreakerStore,
    readonly policy: BreakerPolicy,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.refreshMs = Math.min(1_000, Math.max(50, Math.floor(policy.openAfter / 4)));
  }

  /** Whether a delivery may be tried now: deliver, probe (the one try while open), or hold. */
  async admit(): Promise<Admission> {
    if (!this.view.watch && this.now() - this.view.at < this.refreshMs) return DELIVER;
    if (!this.view.watch) {
      // One read shared by every delivery that finds the view stale at the same moment.
      this.refreshing ??= this.store.snapshot().then(
        (state) => this.see(state.open || state.failures > 0),
        () => this.see(true),
      ).finally(() => {
        this.refreshing = undefined;
      });
      await this.refreshing;
      if (!this.view.watch) return DELIVER;
    }
    const admission = await this.store.admit(this.policy);
    if (admission.kind === 'probe') this.log.debug({ breaker: 'open' }, 'breaker open: probing the target with one delivery');
    return admission;
  }

  /** A 2xx: ends the failure streak; returns true when this closed an open breaker. */
  async delivered(): Promise<boolean> {
    if (!this.view.watch && this.now() - this.view.at < this.refreshMs) return false;
    const openFor = await this.store.recordSuccess();
    this.see(false);
    if (openFor === undefined) return false;
    this.log.info({ breaker: 'closed', openForMs: openFor }, 'breaker closed: the target answered 2xx; its deliveries resume');
    return true;
  }

  /** A failed attempt that counts (410 and other never-retried answers do not). */
  async failed(error: string): Promise<FailedAttemptVerdict> {
    const verdict = await this.store.recordFailure(this.policy, error);
    this.see(true);
    if (verdict.state === 'opened') {
      this.log.error(
        { breaker: 'open', failures: verdict.failures, openAfterMs: this.policy.openAfter, probeIntervalMs: this.policy.probeInterval, error },
        'breaker opened: every attempt failed; deliveries are held (no attempt spent) and the target is probed',
      );
      return 'opened';
    }
    if (verdict.state === 'open') {
      if (verdict.changed) this.log.warn({ breaker: 'open', error }, 'breaker open: the probe failed; deliveries stay held');
      else this.log.debug({ breaker: 'open', error }, 'breaker open: the probe failed again');
      return 'held';
    }
    return 'spent';
  }

  private see(watch: boolean): void {
    this.view = { watch, at: this.now() };
  }
}
