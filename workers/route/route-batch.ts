/**
 * Routing one batch of intake entries, so that one bad entry never holds the others:
 * 1. an entry deleted meanwhile needs nothing; an unreadable one (intake-entry.ts) is set aside;
 * 2. the readable ones are fanned out together (one addBulk per queue);
 * 3. when that fails, they are fanned out one by one. An entry whose own fan-out fails with an
 *    error that does not come from Redis (BullMQ refused it before sending anything) is set aside.
 *    An error of Redis (unreachable, a key of the wrong type, out of memory) is no fault of any
 *    entry: the batch stays pending, unacknowledged, and is read again.
 * Fanning an entry out twice is harmless: its job id is its callback id.
 * A fan-out may return work to run once the batch is acknowledged (an ordered target's release:
 * ordered-routing.ts); every one that succeeded is returned.
 */
import { ReplyError } from 'ioredis';
import type { DeliveryJobData } from '../../src/shared/names.js';
import { INTAKE_FIELDS } from '../../src/intake/script.js';
import { isConnectionError } from '../../src/redis/outage.js';
import type { IntakeEntry } from './intake-entry.js';

/** A readable entry, ready to be fanned out. */
export interface RoutableEntry {
  readonly entryId: string;
  readonly data: DeliveryJobData;
}

/** What a fan-out asks to run once the batch is acknowledged. */
export type AfterAck = () => Promise<void>;

/** An entry that cannot be routed, and why. */
export interface UnroutableEntry {
  readonly entryId: string;
  readonly reason: string;
  readonly fields: readonly string[];
}

/**
 * Routes `entries`; resolves with those to set aside (every other entry is queued, or was deleted)
 * and the fan-outs' work for after the acknowledgement. The batch may be acknowledged once the
 * unroutable entries are set aside. `fanOut`'s `alone` is true when one entry goes on its own.
 * @throws the fan-out's error when Redis failed: nothing may be acknowledged.
 */
export async function routeBatch(
  entries: readonly IntakeEntry[],
  fanOut: (entries: RoutableEntry[], alone: boolean) => Promise<AfterAck | undefined>,
): Promise<{ unroutable: UnroutableEntry[]; afterAck: AfterAck[] }> {
  const unroutable: UnroutableEntry[] = [];
  const afterAck: AfterAck[] = [];
  const routable: RoutableEntry[] = [];
  for (const { entryId, data, problem, fields } of entries) {
    if (data) routable.push({ entryId, data });
    else if (problem !== undefined) unroutable.push({ entryId, reason: problem, fields: fields ?? [] });
  }
  if (routable.length === 0) return { unroutable, afterAck };
  try {
    const after = await fanOut(routable, false);
    if (after) afterAck.push(after);
    return { unroutable, afterAck };
  } catch (error) {
    if (isRedisFault(error)) throw error;
  }
  for (const entry of routable) {
    try {
      const after = await fanOut([entry], true);
      if (after) afterAck.push(after);
    } catch (error) {
      if (isRedisFault(error)) throw error;
      unroutable.push({ entryId: entry.entryId, reason: `refused by the queue: ${error instanceof Error ? error.message : String(error)}`, fields: fieldsOf(entry.data) });
    }
  }
  return { unroutable, afterAck };
}

/** An error Redis answered, or a lost connection: the same entries may well go through later. */
export function isRedisFault(error: unknown): boolean {
  return error instanceof ReplyError || isConnectionError(error);
}

/** A readable entry's fields as the intake script writes them, for the operator's list. */
function fieldsOf(data: DeliveryJobData): string[] {
  return (Object.keys(INTAKE_FIELDS) as (keyof typeof INTAKE_FIELDS)[]).flatMap((name) => (data[name] === undefined ? [] : [INTAKE_FIELDS[name], String(data[name])]));
}
