/**
 * The latest requests the receiver refused (4xx), kept in Redis so an operator can see what a
 * sender really sends (`GET /admin/api/rejected`, `zego-relay rejected`).
 *
 * One Redis list, newest first. Each write is LPUSH + LTRIM + PEXPIRE in one MULTI, so however
 * many requests an attacker sends the list never holds more than REJECTED_MAX_SAMPLES samples of a
 * bounded size; the key expires 24 h after the last rejection and reads skip older samples. The key
 * carries its own hash tag, so on Redis Cluster the three commands stay on one slot.
 *
 * Writing never delays or changes an answer: `record` returns at once, at most MAX_IN_FLIGHT writes
 * wait for Redis, a sample that cannot be written is dropped and counted, and a failing Redis is
 * logged once (and once more when it works again), not once per request.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../lib/logger.js';
import { rejectedSamplesDropped } from '../shared/metrics.js';

/** At most this many samples are kept. */
export const REJECTED_MAX_SAMPLES = 1_000;
/** Samples older than this are neither shown nor kept. */
export const REJECTED_KEEP_MS = 24 * 60 * 60 * 1000;
/** Writes waiting for Redis beyond this are dropped: a slow Redis cannot make the receiver hoard samples. */
const MAX_IN_FLIGHT = 64;

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

export { rejectedKey };

/** Writes samples, fire-and-forget, on a connection of its own with a command timeout. */
export class RejectedLog {
  private inFlight = 0;
  private failing = false;
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly logger: Logger,
  ) {
    this.key = rejectedKey(prefix);
  }

  /** Queues the write of one sample and returns at once; never throws. */
  record(sample: RejectedSample): void {
    if (this.inFlight >= MAX_IN_FLIGHT) {
      rejectedSamplesDropped.inc();
      return;
    }
    this.inFlight += 1;
    this.redis
      .multi()
      .lpush(this.key, JSON.stringify(sample))
      .ltrim(this.key, 0, REJECTED_MAX_SAMPLES - 1)
      .pexpire(this.key, REJECTED_KEEP_MS)
      .exec()
      .then((results) => {
        const failed = results === null ? new Error('the transaction was aborted') : results.find(([error]) => error)?.[0];
        if (failed) throw failed;
        if (this.failing) this.logger.info('rejected requests are sampled to Redis again');
        this.failing = false;
      })
      .catch((error: unknown) => {
        rejectedSamplesDropped.inc();
        if (this.failing) return;
        this.failing = true;
        this.logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'cannot sample rejected requests to Redis; dropping samples until it works again');
      })
      .finally(() => {
        this.inFlight -= 1;
      });
  }
}

/** The latest samples, newest first, at most `limit` and none older than REJECTED_KEEP_MS. */
export async function listRejected(redis: Redis, prefix: string, limit: number, now = Date.now()): Promise<RejectedSample[]> {
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
