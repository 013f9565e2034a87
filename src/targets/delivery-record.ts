/**
 * The record of a target's latest deliveries: a capped Redis Stream per target
 * (`{PREFIX:deliver-NAME}:delivered`, XADD ... MAXLEN ~ retention.completedCount). A delivery the
 * router made on its first attempt leaves no job behind, so this is where "was it delivered?" is
 * answered (the admin API and `zego-relay deliveries`); deliveries made by a worker's job are
 * recorded too, so one list holds them all.
 *
 * Writes are batched: the deliveries to a target recorded in one tick (a router's batch) are one
 * stream entry, a field per delivery (callback id -> `STATUS ATTEMPT MS BY EVENT`), written with
 * one XADD. The stream keeps about `cap` deliveries: each XADD trims it to about `cap` divided by
 * the deliveries it adds, so at most `cap` entries. A failed write is reported once and otherwise
 * ignored: the record is for people to look at, never a reason to hold or repeat a delivery.
 */
import type { Logger } from '../lib/logger.js';
import { targetTag } from '../shared/names.js';
import type { RedisConnection } from '../redis/connection.js';

/** The Redis key of a target's record. */
export function deliveryRecordKey(prefix: string, targetName: string): string {
  return `${targetTag(prefix, targetName)}:delivered`;
}

/** Who made the delivering attempt. */
export type DeliveredBy = 'router' | 'worker';

/** One delivery as it is recorded. */
export interface DeliveredEntry {
  readonly callbackId: string;
  readonly event: string;
  /** The attempt that delivered it (x-relay-attempt). */
  readonly attempt: number;
  readonly status: number;
  readonly durationMs: number;
  readonly by: DeliveredBy;
}

/** One delivery as it is read back: with the time Redis recorded it. */
export interface RecordedDelivery extends DeliveredEntry {
  /** ISO 8601, from the stream entry id (the Redis clock). */
  readonly at: string;
}

export class DeliveryRecorder {
  private pending = new Map<string, DeliveredEntry[]>();
  /** The write of this tick's entries, once one was added. */
  private scheduled: Promise<void> | undefined;
  private readonly writing = new Set<Promise<void>>();
  private failing = false;

  /**
   * `cap`: entries kept per target (approximately: Redis trims whole nodes); 0 keeps no record.
   */
  constructor(
    private readonly connection: RedisConnection,
    private readonly prefix: string,
    private readonly cap: number,
    private readonly log: Logger,
  ) {}

  /** Records a delivery with the others of this tick. Never throws. */
  add(targetName: string, entry: DeliveredEntry): void {
    if (this.cap <= 0) return;
    const list = this.pending.get(targetName);
    if (list) list.push(entry);
    else this.pending.set(targetName, [entry]);
    this.scheduled ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.scheduled = undefined;
      const writing = this.write().finally(() => this.writing.delete(writing));
      this.writing.add(writing);
      return writing;
    });
  }

  /** Resolves once everything added so far is written (or failed to be). Never rejects. */
  async flush(): Promise<void> {
    await Promise.all([this.scheduled, ...this.writing]);
  }

  private async write(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    const writes = [...batch].map(([targetName, entries]) => {
      const fields = entries.flatMap((entry) => [entry.callbackId, `${entry.status} ${entry.attempt} ${entry.durationMs} ${entry.by} ${entry.event}`]);
      const keep = Math.max(1, Math.ceil(this.cap / entries.length));
      return this.connection.xadd(deliveryRecordKey(this.prefix, targetName), 'MAXLEN', '~', keep, '*', ...fields);
    });
    const results = await Promise.allSettled(writes);
    const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failure && !this.failing) this.log.warn({ err: failure.reason }, 'cannot write the record of recent deliveries; deliveries go on');
    else if (!failure && this.failing) this.log.info('writing the record of recent deliveries again');
    this.failing = failure !== undefined;
  }
}

/** The latest `limit` deliveries of a target, newest first. */
export async function recentDeliveries(connection: RedisConnection, prefix: string, targetName: string, limit: number): Promise<RecordedDelivery[]> {
  // Every entry holds at least one delivery: `limit` entries are enough.
  const reply = await connection.xrevrange(deliveryRecordKey(prefix, targetName), '+', '-', 'COUNT', limit);
  const deliveries: RecordedDelivery[] = [];
  for (const [entryId, fields] of reply) {
    const at = new Date(Number(entryId.slice(0, entryId.indexOf('-')))).toISOString();
    // Within an entry the later deliveries come last: newest first means from its end.
    for (let index = fields.length - 2; index >= 0 && deliveries.length < limit; index -= 2) {
      const [status, attempt, durationMs, by, ...event] = fields[index + 1]!.split(' ');
      deliveries.push({ at, callbackId: fields[index]!, event: event.join(' '), attempt: Number(attempt), status: Number(status), durationMs: Number(durationMs), by: by === 'worker' ? 'worker' : 'router' });
    }
    if (deliveries.length >= limit) break;
  }
  return deliveries;
}
