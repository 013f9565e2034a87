/**
 * Intake entries a router could not route (unreadable, or refused by the queue), set aside so the
 * rest of their batch goes on, and kept where an operator can look at them (`zego-relay
 * poisoned`). One Redis list, newest first, at most POISONED_MAX_ENTRIES: however many bad
 * entries someone writes into the intake, it never holds more. Nothing ever reads them back
 * into the intake: a person decides what they were.
 */
import { poisonedKey } from '../shared/names.js';
import type { RedisConnection } from '../redis/connection.js';

export const POISONED_MAX_ENTRIES = 1_000;

/** One entry set aside, as listed. */
export interface PoisonedEntry {
  /** When it was set aside (ISO 8601, UTC). */
  readonly at: string;
  readonly shard: number;
  /** Its id in the intake stream. */
  readonly entryId: string;
  /** Why it could not be routed. */
  readonly reason: string;
  /** Its fields as they were in the stream: [name, value, ...]. */
  readonly fields: readonly string[];
}

/** Adds `entries` to the list (one transaction), trimming it to POISONED_MAX_ENTRIES. */
export async function setAsidePoisoned(redis: RedisConnection, prefix: string, entries: readonly PoisonedEntry[]): Promise<void> {
  if (entries.length === 0) return;
  const key = poisonedKey(prefix);
  const results = await redis
    .multi()
    .lpush(key, ...entries.map((entry) => JSON.stringify(entry)))
    .ltrim(key, 0, POISONED_MAX_ENTRIES - 1)
    .exec();
  const failed = results === null ? new Error('the transaction was aborted') : results.find(([error]) => error)?.[0];
  if (failed) throw failed;
}

/** The latest entries set aside, newest first, at most `limit`. */
export async function listPoisoned(redis: RedisConnection, prefix: string, limit: number): Promise<PoisonedEntry[]> {
  const items = await redis.lrange(poisonedKey(prefix), 0, Math.min(limit, POISONED_MAX_ENTRIES) - 1);
  return items.flatMap((item) => {
    try {
      const entry = JSON.parse(item) as PoisonedEntry;
      return typeof entry?.entryId === 'string' ? [entry] : [];
    } catch {
      return [];
    }
  });
}
