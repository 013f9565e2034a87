/**
 * A refused request as the rejected log keeps it: the start of its body with every `signature`
 * value masked, whether the body was JSON, a form or URL-encoded JSON. A genuine callback refused
 * before its nonce was bound (an unexpected shape, say) must not hand its (timestamp, nonce,
 * signature) to whoever reads the list: that triple would sign a forged body until it is stale.
 */
import type { RejectedSample } from '../store/rejected-log.js';

/** How much of a body a sample keeps. */
export const SAMPLE_BODY_BYTES = 2_048;
const MAX_CONTENT_TYPE_CHARS = 200;
const MASK = '***';

/**
 * `"signature": "..."` (or a bare value) in JSON; `signature=...` in a form;
 * `%22signature%22%3A%22...%22` in URL-encoded JSON. Any letter case (`Signature`), and a value
 * cut by the end of the sample is masked as far as it goes.
 */
const SIGNATURE_VALUES: readonly RegExp[] = [
  /("signature"\s*:\s*")((?:[^"\\]|\\.)*)/gi,
  /("signature"\s*:\s*)([^\s",}\]][^,}\]\s]*)/gi,
  /((?:^|&)signature=)([^&]*)/gi,
  /(%22signature%22(?:%20|\+|\s)*%3a(?:%20|\+|\s)*%22)((?:(?!%22).)*)/gi,
];

/** `text` with the value of every `signature` field replaced by `***`. */
export function maskSignatures(text: string): string {
  let masked = text;
  for (const pattern of SIGNATURE_VALUES) masked = masked.replace(pattern, (_match, name: string) => `${name}${MASK}`);
  return masked;
}

export interface RejectedRequest {
  status: number;
  code: string;
  message: string;
  contentType: string | undefined;
  /** What was read of the body (empty when it was not read). */
  body: Buffer;
  /** The body's full size when more was sent than read (413). @defaultValue body.length */
  size?: number;
  /** Milliseconds since the epoch. */
  at: number;
}

/** The sample of one refused request. */
export function rejectionSample(request: RejectedRequest): RejectedSample {
  const size = request.size ?? request.body.length;
  return {
    at: new Date(request.at).toISOString(),
    status: request.status,
    code: request.code,
    message: request.message,
    contentType: request.contentType ? request.contentType.slice(0, MAX_CONTENT_TYPE_CHARS) : null,
    size,
    // Invalid UTF-8 (itself a reason to refuse) shows as U+FFFD: a sample is for reading.
    body: maskSignatures(request.body.subarray(0, SAMPLE_BODY_BYTES).toString('utf8')),
    truncated: size > SAMPLE_BODY_BYTES,
  };
}
