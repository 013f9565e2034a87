/**
 * The request headers of one delivery attempt, exactly as docs/PROTOCOL.md#delivery lists them.
 * Pure: the attempt number and the clock come in, so tests can check every byte.
 */
import type { Target } from '../../src/config/load.js';
import type { DeliveryJobData } from '../../src/shared/names.js';
import type { TraceHeaders } from '../../src/trace/context-field.js';
import { signWebhook } from './sign.js';
import { USER_AGENT } from './user-agent.js';

/**
 * Headers the relay owns. A target's `headers` cannot replace them: a target that overrode
 * `webhook-id` or `content-type` would break signature verification and de-duplication on its own
 * side. Everything else (Authorization, a different user-agent, ...) it may set.
 */
const PROTECTED = new Set([
  'content-type', 'content-length', 'host', 'webhook-id', 'webhook-timestamp', 'webhook-signature',
  'x-zego-event', 'x-zego-appid', 'x-relay-attempt', 'traceparent', 'tracestate',
]);

export interface AttemptHeadersInput {
  readonly target: Pick<Target, 'headers' | 'signingSecrets'>;
  readonly data: Pick<DeliveryJobData, 'callbackId' | 'event' | 'appId' | 'body'>;
  /** 1 on the first try. */
  readonly attempt: number;
  /** Unix seconds of this attempt (`webhook-timestamp`, signed). */
  readonly timestampSeconds: number;
  /** The attempt span's `traceparent` (and `tracestate`) while tracing is on. */
  readonly trace?: TraceHeaders | undefined;
}

/** Every header of one attempt; `webhook-signature` only when the target has signing secrets. */
export function attemptHeaders(input: AttemptHeadersInput): Record<string, string> {
  const { target, data, attempt, timestampSeconds } = input;
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    'webhook-id': data.callbackId,
    'webhook-timestamp': String(timestampSeconds),
  };
  const signature = signWebhook(target.signingSecrets, data.callbackId, timestampSeconds, data.body);
  if (signature !== undefined) headers['webhook-signature'] = signature;
  headers['x-zego-event'] = data.event;
  headers['x-zego-appid'] = data.appId;
  headers['x-relay-attempt'] = String(attempt);
  if (input.trace) Object.assign(headers, input.trace);
  for (const [name, value] of Object.entries(target.headers)) {
    const lower = name.toLowerCase();
    if (PROTECTED.has(lower)) continue;
    if (lower === 'user-agent') headers['user-agent'] = value;
    else headers[name] = value;
  }
  return headers;
}
