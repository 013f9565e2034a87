/**
 * Reading intake entries as Redis returns them (XREADGROUP / XAUTOCLAIM replies) into delivery job
 * data, checked before use: the receiver writes every entry, but anyone with access to Redis can
 * add one, and a job id BullMQ refuses (an integer, a ':') would fail its whole batch. Pure, so
 * the shapes are tested without Redis.
 */
import { INTAKE_FIELDS } from '../../src/intake/script.js';
import type { DeliveryJobData } from '../../src/shared/names.js';

/** One stream entry: its id and its flat [field, value, ...] list (null once deleted). */
export type RawEntry = [id: string, fields: string[] | null];

export interface IntakeEntry {
  /** The stream entry id, acknowledged once routed. */
  entryId: string;
  /** Undefined when the entry cannot be routed: deleted meanwhile, or unreadable (`problem`). */
  data: DeliveryJobData | undefined;
  /** Why an entry that is there cannot be routed; its `fields` are kept to set it aside. */
  problem?: string;
  fields?: string[];
}

/** What the receiver writes as a callback id (receive/callback-id.ts: `cb_` + hex): a job id BullMQ takes. */
const CALLBACK_ID = /^cb_[A-Za-z0-9_-]{1,128}$/;
/** Longer than any event name the receiver accepts. */
const MAX_EVENT_CHARS = 255;

export function parseEntry([entryId, fields]: RawEntry): IntakeEntry {
  if (!fields) return { entryId, data: undefined };
  const values = new Map<string, string>();
  for (let index = 0; index + 1 < fields.length; index += 2) values.set(fields[index]!, fields[index + 1]!);
  const callbackId = values.get(INTAKE_FIELDS.callbackId);
  const event = values.get(INTAKE_FIELDS.event);
  const appId = values.get(INTAKE_FIELDS.appId);
  const body = values.get(INTAKE_FIELDS.body);
  const receivedAt = Number(values.get(INTAKE_FIELDS.receivedAt));
  const unreadable = (problem: string): IntakeEntry => ({ entryId, data: undefined, problem, fields });
  if (callbackId === undefined || event === undefined || appId === undefined || body === undefined || values.get(INTAKE_FIELDS.receivedAt) === undefined) {
    return unreadable(`a field is missing (an entry has ${[INTAKE_FIELDS.callbackId, INTAKE_FIELDS.event, INTAKE_FIELDS.appId, INTAKE_FIELDS.body, INTAKE_FIELDS.receivedAt].join(', ')})`);
  }
  if (!CALLBACK_ID.test(callbackId)) return unreadable(`its id ${JSON.stringify(callbackId.slice(0, 40))} is not a callback id (cb_ and letters, digits, _ or -)`);
  if (event.length > MAX_EVENT_CHARS) return unreadable(`its event is longer than ${MAX_EVENT_CHARS} characters`);
  if (!Number.isSafeInteger(receivedAt) || receivedAt < 0) return unreadable('its time (at) is not milliseconds since the epoch');
  const traceContext = values.get(INTAKE_FIELDS.traceContext);
  return { entryId, data: { callbackId, event, appId, body, receivedAt, ...(traceContext ? { traceContext } : {}) } };
}

/** The entries of an XREADGROUP reply for one stream (null when the BLOCK timed out). */
export function entriesOfRead(reply: unknown): IntakeEntry[] {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  const [, entries] = reply[0] as [string, RawEntry[]];
  return (entries ?? []).map(parseEntry);
}

/** An XAUTOCLAIM reply: the next cursor and the entries claimed (deleted ones are dropped by Redis 7). */
export function entriesOfClaim(reply: unknown): { cursor: string; entries: IntakeEntry[] } {
  const [cursor, entries] = reply as [string, (RawEntry | null)[]];
  return { cursor, entries: (entries ?? []).filter((entry): entry is RawEntry => Array.isArray(entry)).map(parseEntry) };
}
