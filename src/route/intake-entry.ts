/**
 * Reading intake entries as Redis returns them (XREADGROUP / XAUTOCLAIM replies) into delivery job
 * data. Pure, so the shapes are tested without Redis.
 */
import { INTAKE_FIELDS } from '../store/intake-script.js';
import type { DeliveryJobData } from '../shared/names.js';

/** One stream entry: its id and its flat [field, value, ...] list (null once deleted). */
export type RawEntry = [id: string, fields: string[] | null];

export interface IntakeEntry {
  /** The stream entry id, acknowledged once routed. */
  entryId: string;
  /** Undefined when the entry is not one the receiver wrote (or was deleted meanwhile). */
  data: DeliveryJobData | undefined;
}

export function parseEntry([entryId, fields]: RawEntry): IntakeEntry {
  if (!fields) return { entryId, data: undefined };
  const values = new Map<string, string>();
  for (let index = 0; index + 1 < fields.length; index += 2) values.set(fields[index]!, fields[index + 1]!);
  const callbackId = values.get(INTAKE_FIELDS.callbackId);
  const event = values.get(INTAKE_FIELDS.event);
  const appId = values.get(INTAKE_FIELDS.appId);
  const body = values.get(INTAKE_FIELDS.body);
  const receivedAt = Number(values.get(INTAKE_FIELDS.receivedAt));
  if (!callbackId || event === undefined || appId === undefined || body === undefined || !Number.isFinite(receivedAt)) {
    return { entryId, data: undefined };
  }
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
