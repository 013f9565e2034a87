/**
 * The few named errors of zego-relay. HTTP errors carry their status, a stable `code` (the
 * table in docs/PROTOCOL.md#the-receiver) and whether their message may be shown; one middleware (src/http/error-middleware.ts)
 * writes every error response. Delivery errors say whether a retry can help.
 */

/** An error answered to an HTTP client with a status and a stable code. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** When false, the client sees a generic message (the real one goes to the log). */
    readonly expose = status < 500,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** Redis could not confirm a write or read in time: answer 503, ZEGO retries. */
export class UnavailableError extends HttpError {
  constructor(message = 'the relay cannot reach its store right now; retry later', override readonly cause?: unknown) {
    super(503, 'unavailable', message, true);
    this.name = 'UnavailableError';
  }
}

/** The configuration is invalid; `issues` name the path of each bad value. */
export class ConfigError extends Error {
  constructor(readonly issues: readonly string[], readonly file?: string) {
    super(`${file ? `${file}: ` : ''}invalid configuration:\n  - ${issues.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** One failed delivery attempt. `retryable` false sends it to the dead letters at once. */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    /** HTTP status of the target's answer, when there was one. */
    readonly status?: number,
    /** Delay the target asked for (Retry-After), in ms. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'DeliveryError';
  }
}
