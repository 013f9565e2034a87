/**
 * The latest requests the receiver refused (4xx), kept in Redis so an operator can see what a
 * sender really sends (`GET /admin/api/rejected`, `zego-relay rejected`).
 *
 * One Redis list, newest first. Samples are written in batches, every FLUSH_MS at most: one
 * LPUSH of the batch + LTRIM + PEXPIRE in one MULTI, so a flood of bad requests costs Redis one
 * transaction per batch, not one per request, and however many requests an attacker sends the list
 * never holds more than REJECTED_MAX_SAMPLES samples of a bounded size. The key expires 24 h after
 * the last rejection and reads skip older samples. The key carries its own hash tag, so on Redis
 * Cluster the three commands stay on one slot.
 *
 * Writing never delays or changes an answer: `record` returns at once; while a batch waits for
 * Redis the next one collects (at most REJECTED_MAX_SAMPLES, the newest: older ones would be
 * trimmed anyway); a batch that cannot be written is dropped and counted, and a failing Redis is
 * logged once (and once more when it works again), not once per request.
 */
import type { Logger } from '../lib/logger.js';
import { rejectedSamplesDropped } from '../shared/metrics.js';

/** At most this many samples are kept. */
export const REJECTED_MAX_SAMPLES = 1_000;
/** Samples older than this are neither shown nor kept. */
export const REJECTED_KEEP_MS = 24 * 60 * 60 * 1000;
/** How long samples collect before they are written together. */
const FLUSH_MS = 50;

/** One refused request, as listed. */
export interface RejectedSample {
  /** When it was answered (ISO 8601, UTC). */
  readonly at: string;
  readonly status: number;
  /** The error code of the answer (`invalid_body`, `bad_signature`, ...). */
  readonly code: string;
  /** The error message of the answer (never holds a secret). */
  readonly message: string;
  /** The declared Content-Type, cut to 200 characters; null when there was none. */
  readonly contentType: string | null;
  /** The body's size in bytes (for a body over the limit, as announced or as far as it was read). */
  readonly size: number;
  /** The start of the body as UTF-8 text, with `signature` values masked. */
  readonly body: string;
  /** True when `body` is only the start of what was sent. */
  readonly truncated: boolean;
}

import { rejectedKey } from '../shared/names.js';
import type { RedisConnection } from '../redis/connection.js';

export { rejectedKey };

/** Writes samples, fire-and-forget, on a connection of its own with a command timeout. */
export class RejectedLog {
  /** Samples not written yet, oldest first. */
  private pending: RejectedSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing = false;
  private failing = false;
  private readonly key: string;

  constructor(
    private readonly redis: RedisConnection,
    prefix: string,
    private readonly logger: Logger,
  ) {
    this.key = rejectedKey(prefix);
  }

  /** Queues the write of one sample and returns at once; never throws. */
  record(sample: RejectedSample): void {
    this.pending.push(sample);
    // Only the newest REJECTED_MAX_SAMPLES can be kept: an older one would be trimmed at once.
    if (this.pending.length > REJECTED_MAX_SAMPLES) this.pending.shift();
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.writing || this.pending.length === 0) return;
    this.timer = setTimeout(() => void this.flush(), FLUSH_MS);
    this.timer.unref();
  }

  private async flush(): Promise<void> {
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    this.writing = true;
    try {
      // LPUSH pushes its arguments one by one: the last one given ends up first (newest first).
      const results = await this.redis
        .multi()
        .lpush(this.key, ...batch.map((sample) => JSON.stringify(sample)))
        .ltrim(this.key, 0, REJECTED_MAX_SAMPLES - 1)
        .pexpire(this.key, REJECTED_KEEP_MS)
        .exec();
      const failed = results === null ? new Error('the transaction was aborted') : results.find(([error]) => error)?.[0];
      if (failed) throw failed;
      if (this.failing) this.logger.info('rejected requests are sampled to Redis again');
      this.failing = false;
    } catch (error) {
      rejectedSamplesDropped.inc(batch.length);
      if (!this.failing) {
        this.failing = true;
        this.logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'cannot sample rejected requests to Redis; dropping samples until it works again');
      }
    } finally {
      this.writing = false;
      this.schedule();
    }
  }
}

/** The latest samples, newest first, at most `limit` and none older than REJECTED_KEEP_MS. */
export async function listRejected(redis: RedisConnection, prefix: string, limit: number, now = Date.now()): Promise<RejectedSample[]> {
  const entries = await redis.lrange(rejectedKey(prefix), 0, Math.min(limit, REJECTED_MAX_SAMPLES) - 1);
  const oldest = now - REJECTED_KEEP_MS;
  return entries.map(parseSample).filter((sample): sample is RejectedSample => sample !== undefined && Date.parse(sample.at) >= oldest);
}

/** A sample as written by `record`; anything else in the list (written by hand?) is skipped. */
function parseSample(entry: string): RejectedSample | undefined {
  try {
    const sample = JSON.parse(entry) as RejectedSample;
    return typeof sample?.at === 'string' ? sample : undefined;
  } catch {
    return undefined;
  }
}
