/**
 * Payload validation (400 invalid_payload): the common fields in either spelling, the fields an
 * event needs, scalar types and ZEGO's 255-byte limits. Runs before any secret or Redis is touched,
 * so nothing that fails here costs a round trip.
 */
import { HttpError } from '../errors.js';
import { COMMON_FIELDS, MAX_BYTES_255, REQUIRED_FIELDS, SCALAR_FIELDS, isKnownEvent, type CommonField } from '../shared/events.js';
import { quoteName, type DecodedBody, type FieldValue } from './payload.js';

/** A decoded callback whose common fields are present and well formed. */
export interface Callback {
  appId: string;
  event: string;
  /** Unix seconds, as the digits that were sent (the signature covers this text). */
  timestamp: string;
  nonce: string;
  signature: string;
  /** Every top-level field, by its key as sent. */
  fields: Map<string, FieldValue>;
  forwardBody: string;
  /** False when ZEGO does not document the event (identified by a hash of its body). */
  known: boolean;
}

export interface ValidationOptions {
  /** `zego.allowUnknownEvents`. */
  allowUnknownEvents: boolean;
}

const DIGITS = /^\d{1,20}$/;
/**
 * Unix seconds written one way only: no sign, no leading zero, at most 15 digits (exact as a JS
 * number). ZEGO's signature hashes the sorted strings joined with no separator, so `0` moved from
 * the end of the nonce to the front of the timestamp signs the same: a second spelling of one
 * timestamp would let a captured signature carry a nonce the relay has not seen.
 */
const CANONICAL_SECONDS = /^[1-9]\d{0,14}$/;
const EVENT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_FIELD_BYTES = 255;

/**
 * Checks a decoded body and returns the callback, or throws 400 invalid_payload naming the field.
 * An unknown event with `allowUnknownEvents: false` is invalid_payload too: the relay refuses the
 * payload as such, before authentication, and stores nothing.
 */
export function validateCallback(body: DecodedBody, options: ValidationOptions): Callback {
  const { fields } = body;
  for (const name of SCALAR_FIELDS) {
    const value = fields.get(name);
    if (value && !value.scalar) throw invalid(`the field ${quoteName(name)} must be a string or a number`);
  }
  const appId = commonField(fields, 'appId');
  const event = commonField(fields, 'event');
  const timestamp = commonField(fields, 'timestamp');
  const nonce = commonField(fields, 'nonce');
  const signature = commonField(fields, 'signature');

  if (!DIGITS.test(appId)) throw invalid('appid must be a number of at most 20 digits');
  if (!EVENT_NAME.test(event)) throw invalid('event must be 1 to 64 letters, digits, "_", "." or "-"');
  if (!CANONICAL_SECONDS.test(timestamp)) throw invalid('timestamp must be Unix seconds (digits, no leading zero)');
  if (Buffer.byteLength(nonce) > MAX_FIELD_BYTES) throw invalid(`nonce must be at most ${MAX_FIELD_BYTES} bytes`);
  if (Buffer.byteLength(signature) > MAX_FIELD_BYTES) throw invalid(`signature must be at most ${MAX_FIELD_BYTES} bytes`);

  const known = isKnownEvent(event);
  if (!known && !options.allowUnknownEvents) {
    throw invalid(`the event ${quoteName(event)} is not accepted (zego.allowUnknownEvents is false)`);
  }
  for (const name of REQUIRED_FIELDS[event] ?? []) {
    if (!fields.get(name)?.text) throw invalid(`${event} needs the field ${quoteName(name)}`);
  }
  for (const name of MAX_BYTES_255) {
    const value = fields.get(name);
    if (value && Buffer.byteLength(value.text) > MAX_FIELD_BYTES) {
      throw invalid(`the field ${quoteName(name)} must be at most ${MAX_FIELD_BYTES} bytes`);
    }
  }
  return { appId, event, timestamp, nonce, signature, fields, forwardBody: body.forwardBody, known };
}

/**
 * The value of a common field in whichever spelling was sent. Both spellings at once never get
 * here: decodeBody refuses keys that differ only in letter case.
 */
function commonField(fields: Map<string, FieldValue>, field: CommonField): string {
  const [snake, pascal] = COMMON_FIELDS[field];
  const text = (fields.get(snake) ?? fields.get(pascal))?.text;
  if (!text) throw invalid(`the field ${snake} (or ${pascal}) is missing or empty`);
  return text;
}

function invalid(message: string): HttpError {
  return new HttpError(400, 'invalid_payload', message);
}
