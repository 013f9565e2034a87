/**
 * What happens to every 4xx on the callback path: counted by reason
 * (`zego_relay_callbacks_rejected_total`), summarised in the log at most once a minute, and
 * sampled to the rejected log. Never throws and never waits: it cannot change or delay an answer.
 */
import type { Logger } from '../lib/logger.js';
import { callbacksRejected } from '../shared/metrics.js';
import type { RejectedSample } from './log.js';
import { RejectionDigest } from './digest.js';
import { rejectionSample, type RejectedRequest } from './sample.js';

/** Where samples go (the store's RejectedLog); `record` must return at once. */
export interface RejectionSink {
  record(sample: RejectedSample): void;
}

export class Rejections {
  private readonly digest: RejectionDigest;

  constructor(
    private readonly sink: RejectionSink | undefined,
    private readonly logger: Logger,
  ) {
    this.digest = new RejectionDigest({ logger });
  }

  /** Books one refused request. */
  report(request: RejectedRequest): void {
    try {
      callbacksRejected.inc({ reason: request.code });
      this.digest.add(request.code);
      this.sink?.record(rejectionSample(request));
    } catch (error) {
      this.logger.debug({ err: error instanceof Error ? error.message : String(error) }, 'could not book a rejected request');
    }
  }

  /** Logs the summary still pending (at shutdown). */
  flush(): void {
    this.digest.flush();
  }
}
