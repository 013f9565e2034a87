/**
 * At most one warning a minute about refused requests, however many arrive. The first refusal
 * after a quiet minute is logged at once (a wrong ZEGO setting shows up in the log as soon as it
 * starts); those after it are counted and summarised, with the count and the top reason, when
 * the minute is over. A flood of bad requests costs one log line a minute instead of one each.
 */
import type { Logger } from '../lib/logger.js';

export interface RejectionDigestOptions {
  logger: Logger;
  /** @defaultValue 60000 */
  intervalMs?: number;
  /** Milliseconds since the epoch. @defaultValue Date.now */
  now?: () => number;
}

export class RejectionDigest {
  private readonly counts = new Map<string, number>();
  private lastWarning: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly logger: Logger;
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(options: RejectionDigestOptions) {
    this.logger = options.logger;
    this.intervalMs = options.intervalMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  /** Counts one refusal by its error code. */
  add(code: string): void {
    this.counts.set(code, (this.counts.get(code) ?? 0) + 1);
    const now = this.now();
    if (this.lastWarning === undefined || now - this.lastWarning >= this.intervalMs) {
      this.flush();
      return;
    }
    this.timer ??= setTimeout(() => this.flush(), this.lastWarning + this.intervalMs - now).unref();
  }

  /** Logs what was counted since the last warning, if anything. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.counts.size === 0) return;
    let total = 0;
    let topReason = '';
    let topCount = 0;
    for (const [code, count] of this.counts) {
      total += count;
      if (count > topCount) [topReason, topCount] = [code, count];
    }
    const reasons = Object.fromEntries(this.counts);
    this.counts.clear();
    this.lastWarning = this.now();
    this.logger.warn(
      { rejected: total, topReason, reasons },
      `${total} request${total === 1 ? '' : 's'} on the callback path rejected (mostly ${topReason}); the latest are listed by GET /admin/api/rejected and zego-relay rejected`,
    );
  }
}
