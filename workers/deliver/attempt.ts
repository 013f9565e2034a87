/**
 * One delivery attempt: a single POST with got, bounded in every direction (timeout, no
 * redirects, no retries of its own, response body read up to a cap). The worker decides what
 * happens next; this file only reports what the target did.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import got, { type Response } from 'got';
import type { RelayConfig, Target } from '../../src/config/load.js';
import type { DeliveryError } from '../../src/errors.js';
import type { DeliveryJobData } from '../../src/shared/names.js';
import { traceAttempts } from '../../src/trace/attempt-span.js';
import type { TraceHeaders } from '../../src/trace/context-field.js';
import { attemptHeaders } from './headers.js';
import { answerError, networkError } from './outcome.js';

export interface AttemptResult {
  /** The target's status; undefined when there was no answer (timeout, refused, ...). */
  readonly status?: number;
  /** Set when the attempt failed; `retryable` says whether the schedule continues. */
  readonly error?: DeliveryError;
  readonly durationMs: number;
}

/** Filled in by the client when the request starts: `cut()` ends it (the caller's own shutdown). */
export interface AttemptHandle {
  cut?: () => void;
}

/** A target's HTTP client: its keep-alive agents live as long as the worker role. */
export interface TargetClient {
  /**
   * POSTs `data.body` once. Never throws: failures come back as `error`. While tracing is on the
   * client is wrapped (trace/attempt-span.ts): a span per attempt, whose headers come in `trace`.
   */
  attempt(data: DeliveryJobData, attempt: number, trace?: TraceHeaders, handle?: AttemptHandle): Promise<AttemptResult>;
  /** Cuts every request in flight (forced shutdown); their attempts come back without a status. */
  abortInFlight(): void;
  /** Closes the idle keep-alive sockets. */
  close(): void;
}

/**
 * A client for one target. The agents are the target's own, sized to its concurrency, so a slow
 * target's sockets never starve another target's.
 */
export function createTargetClient(target: Target, delivery: RelayConfig['delivery']): TargetClient {
  const agentOptions = { keepAlive: true, maxSockets: target.concurrency, scheduling: 'lifo' as const };
  const agent = { http: new HttpAgent(agentOptions), https: new HttpsAgent(agentOptions) };
  // Tracked rather than given an AbortSignal: one shared signal would collect a listener per request.
  const inFlight = new Set<{ destroy(error?: Error): void }>();
  // Everything but the body and headers is fixed per target: set it once, not on every attempt
  // (got normalizes and validates each option it is given).
  const client = got.extend({
    agent,
    retry: { limit: 0 },
    timeout: { request: target.timeout },
    followRedirect: false,
    throwHttpErrors: false,
    // The answer is read only for its status; never inflate a compressed one.
    decompress: false,
  });

  return traceAttempts<DeliveryJobData, AttemptResult, TargetClient>(target, {
    async attempt(data, attempt, trace, handle) {
      const started = performance.now();
      const elapsed = () => Math.round((performance.now() - started) * 10) / 10;
      const headers = attemptHeaders({ target, data, attempt, timestampSeconds: Math.floor(Date.now() / 1000), trace });
      const stream = client.stream.post(target.url, { body: data.body, headers });
      inFlight.add(stream);
      if (handle) handle.cut = () => stream.destroy(new Error('aborted by shutdown'));
      let response: Response;
      try {
        response = await new Promise<Response>((resolve, reject) => {
          stream.once('response', resolve);
          stream.once('error', reject);
        });
      } catch (error) {
        stream.destroy();
        return { error: networkError(error, target.timeout), durationMs: elapsed() };
      } finally {
        inFlight.delete(stream);
      }
      // The status decides; the body is drained (so the socket can be reused) up to the cap.
      await drain(stream, delivery.maxResponseBytes);
      const error = answerError(
        {
          status: response.statusCode,
          statusMessage: response.statusMessage,
          retryAfter: response.headers['retry-after'],
          location: response.headers.location,
        },
        Date.now(),
      );
      return { status: response.statusCode, ...(error ? { error } : {}), durationMs: elapsed() };
    },
    abortInFlight() {
      for (const stream of inFlight) stream.destroy(new Error('aborted by shutdown'));
      inFlight.clear();
    },
    close() {
      agent.http.destroy();
      agent.https.destroy();
    },
  });
}

/** Reads and discards a response body; past `limit` bytes the stream is destroyed, not read. */
async function drain(stream: NodeJS.ReadableStream & { destroy(): void }, limit: number): Promise<void> {
  let received = 0;
  try {
    for await (const chunk of stream) {
      received += (chunk as Buffer).length;
      if (received > limit) break;
    }
  } catch {
    // An error after the status line (a reset mid-body, the request timeout) does not change
    // what the target answered.
  } finally {
    if (received > limit) stream.destroy();
  }
}
