/**
 * A refused request as the rejected log keeps it: the start of its body with every `signature`
 * value masked, whether the body was JSON, a form or URL-encoded JSON. A genuine callback refused
 * before its signature was bound (an unexpected shape, say) must not hand its (timestamp, nonce,
 * signature) to whoever reads the list: that triple would sign a forged body until it is stale.
 *
 * Two nets. When the body was decoded, the signature values it holds are masked wherever they
 * appear in the sample, in any spelling: raw, percent-encoded (either case, encoded twice), as
 * JSON escapes, with the letter case changed (the receiver compares signatures ignoring case).
 * Whatever the body, `signature` keys are found in the text and their values masked (the body
 * may not have decoded at all).
 */
import type { RejectedSample } from './log.js';

/** How much of a body a sample keeps. */
export const SAMPLE_BODY_BYTES = 2_048;
const MAX_CONTENT_TYPE_CHARS = 200;
const MASK = '***';

/** A double quote and a colon, raw or percent-encoded: `encodeURI` leaves `:` as it is. */
const QUOTE = '(?:"|%22)';
const COLON = '(?:%20|\\+|\\s)*(?::|%3a)(?:%20|\\+|\\s)*';

/**
 * `"signature": "..."` (or a bare value) in JSON; `signature=...` in a form;
 * `%22signature%22%3A%22...%22` in URL-encoded JSON, its `"` and `:` raw or encoded. Any letter
 * case (`Signature`), and a value cut by the end of the sample is masked as far as it goes.
 */
const SIGNATURE_VALUES: readonly RegExp[] = [
  /("signature"\s*:\s*")((?:[^"\\]|\\.)*)/gi,
  /("signature"\s*:\s*)([^\s",}\]][^,}\]\s]*)/gi,
  /((?:^|&)signature=)([^&]*)/gi,
  new RegExp(`(${QUOTE}signature${QUOTE}${COLON}${QUOTE})((?:(?!%22|").)*)`, 'gi'),
];

/** Longer values are no signature the receiver would accept; they are masked by key only. */
const MAX_VALUE_CHARS = 255;
/** A value cut by the end of the sample is masked from this many characters on. */
const MIN_CUT_CHARS = 4;

/**
 * `text` with the value of every `signature` field replaced by `***`, and each of `values` (the
 * signatures the body was decoded with) wherever it appears.
 */
export function maskSignatures(text: string, values: readonly string[] = [], truncated = false): string {
  let masked = text;
  for (const value of values) {
    if (value === '' || value.length > MAX_VALUE_CHARS) continue;
    masked = masked.replace(spellingsOf(value, truncated), MASK);
  }
  for (const pattern of SIGNATURE_VALUES) masked = masked.replace(pattern, (_match, name: string) => `${name}${MASK}`);
  return masked;
}

/** A pattern for `value` in any spelling; when `truncated`, also its start at the end of the text. */
function spellingsOf(value: string, truncated: boolean): RegExp {
  const characters = [...value].map(spellingsOfCharacter);
  let pattern = '';
  for (let index = characters.length - 1; index >= 0; index -= 1) {
    const rest = pattern === '' ? '' : truncated && index + 1 >= MIN_CUT_CHARS ? `(?:$|${pattern})` : pattern;
    pattern = `${characters[index]}${rest}`;
  }
  return new RegExp(pattern, 'gi');
}

/**
 * One character as itself, as percent-encoded UTF-8 (once or twice) or as a JSON escape, in either
 * letter case (the pattern's `i` flag covers the character itself and the hex digits only).
 */
function spellingsOfCharacter(character: string): string {
  const escapes = [character.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')];
  for (const variant of new Set([character.toLowerCase(), character.toUpperCase()])) {
    const percent = [...Buffer.from(variant, 'utf8')].map((byte) => `%(?:25)?${byte.toString(16).padStart(2, '0')}`).join('');
    escapes.push(percent);
    const code = variant.codePointAt(0)!;
    if (code <= 0xffff) escapes.push(`(?:\\\\|%(?:25)?5c)u${code.toString(16).padStart(4, '0')}`);
    if (variant === '"' || variant === '\\' || variant === '/') escapes.push(`(?:\\\\|%(?:25)?5c)(?:${escapes[0]}|${percent})`);
  }
  if (character === ' ') escapes.push('\\+');
  return `(?:${escapes.join('|')})`;
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
  /** The signature values the body was decoded with, masked wherever they appear. @defaultValue none */
  signatures?: readonly string[];
  /** Milliseconds since the epoch. */
  at: number;
}

/** The sample of one refused request. */
export function rejectionSample(request: RejectedRequest): RejectedSample {
  const size = request.size ?? request.body.length;
  const truncated = size > SAMPLE_BODY_BYTES;
  return {
    at: new Date(request.at).toISOString(),
    status: request.status,
    code: request.code,
    message: request.message,
    contentType: request.contentType ? request.contentType.slice(0, MAX_CONTENT_TYPE_CHARS) : null,
    size,
    // Invalid UTF-8 (itself a reason to refuse) shows as U+FFFD: a sample is for reading.
    body: maskSignatures(request.body.subarray(0, SAMPLE_BODY_BYTES).toString('utf8'), request.signatures, truncated),
    truncated,
  };
}

/** The values of a decoded body's signature fields (`signature`, `Signature`, any case). */
export function signatureValues(fields: ReadonlyMap<string, { text: string }>): string[] {
  return [...fields].filter(([key]) => key.toLowerCase() === 'signature').map(([, value]) => value.text);
}
