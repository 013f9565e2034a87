/**
 * What the relay knows about ZEGO's events, from ZEGO's server callback documentation: the common
 * fields in both spellings, each event's identity fields, the fields that must be scalars and the
 * 255-byte limits (docs/PROTOCOL.md#the-receiver says what the receiver does with them).
 */

/** The events ZEGO documents; `transcode_*` and `censor_*` are families (see isKnownEvent). */
export const KNOWN_EVENTS: ReadonlySet<string> = new Set([
  'mix_start', 'mix_stop', 'stream_create', 'stream_close', 'room_login', 'room_logout', 'room_create', 'room_close',
  'record', 'snapshot', 'compose', 'procedure',
]);

/** Event families ZEGO documents by prefix. */
export const KNOWN_EVENT_FAMILIES = ['transcode_', 'censor_'] as const;

/** The common fields, by the name the relay uses, with the spellings ZEGO sends. */
export const COMMON_FIELDS = {
  appId: ['appid', 'AppId'],
  event: ['event', 'Event'],
  timestamp: ['timestamp', 'Timestamp'],
  nonce: ['nonce', 'Nonce'],
  signature: ['signature', 'Signature'],
} as const;

export type CommonField = keyof typeof COMMON_FIELDS;

/** Fields that change on every (re-)send and so never identify a callback. */
export const PER_SEND_FIELDS: ReadonlySet<string> = new Set([
  ...COMMON_FIELDS.timestamp,
  ...COMMON_FIELDS.nonce,
  ...COMMON_FIELDS.signature,
]);

/**
 * The identity fields of each event beyond appid and event, as ZEGO documents them. Events missing here
 * are identified by a hash of their whole body.
 */
export const IDENTITY_FIELDS: Readonly<Record<string, readonly string[]>> = {
  mix_start: ['task_id', 'seq'],
  mix_stop: ['task_id', 'seq'],
  stream_create: ['stream_sid', 'stream_seq'],
  stream_close: ['stream_sid', 'stream_seq'],
  room_login: ['room_seq', 'session_id', 'user_update_seq'],
  room_logout: ['room_seq', 'session_id', 'user_update_seq'],
  room_create: ['room_session_id'],
  room_close: ['room_session_id'],
  record: ['stream_alias', 'begin_time', 'end_time'],
};

/** Fields an event cannot be accepted without (beyond the common ones). */
export const REQUIRED_FIELDS: Readonly<Record<string, readonly string[]>> = {
  mix_start: ['task_id', 'seq'],
  mix_stop: ['task_id', 'seq'],
};

/** ZEGO documents these as strings of at most 255 bytes (RoomID, UserID, RTMP URL, stream alias). */
export const MAX_BYTES_255: readonly string[] = ['channel_id', 'publish_id', 'mix_url', 'mix_stream_alias'];

/** Fields that must be a string or a number, never an object, array, boolean or null. */
export const SCALAR_FIELDS: ReadonlySet<string> = new Set([
  ...Object.values(COMMON_FIELDS).flat(),
  ...Object.values(IDENTITY_FIELDS).flat(),
  ...MAX_BYTES_255,
]);

/** An event ZEGO documents (including the transcode_* and censor_* families). */
export function isKnownEvent(event: string): boolean {
  return KNOWN_EVENTS.has(event) || KNOWN_EVENT_FAMILIES.some((family) => event.startsWith(family));
}

/**
 * Body fields ZEGO's documentation names for its events (beyond the common ones): identity fields,
 * mix_stop's fields, and the sequence, id and time fields it tells customers to order by. An
 * `ordering.key` field outside this list is probably misspelled (check-config warns).
 */
export const DOCUMENTED_FIELDS: ReadonlySet<string> = new Set([
  ...Object.values(IDENTITY_FIELDS).flat(),
  ...MAX_BYTES_255,
  'mix_url',
  'room_id', 'room_session_id', 'room_create_time', 'room_seq', 'session_id', 'user_update_seq',
  'stream_alias', 'stream_sid', 'stream_seq', 'create_time_ms', 'destroy_timemillis',
  'task_id', 'seq',
]);
