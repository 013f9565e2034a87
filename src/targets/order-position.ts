/**
 * A delivery's position in its key's order, as one fixed-width string, so the key gate's Lua
 * compares positions as strings and Redis sorts them lexically (docs/RELIABILITY.md, "Ordered
 * delivery per key"). A position is (milliseconds, sequence, shard) of the callback's intake entry:
 * within one shard that is the stream's own order, which is the order the receiver acknowledged
 * the callbacks in. Pure.
 */

const MS_DIGITS = 16;
const SEQUENCE_DIGITS = 20;
const SHARD_DIGITS = 5;

/** The length of every position: `MS-SEQUENCE-SHARD`. */
export const POSITION_LENGTH = MS_DIGITS + 1 + SEQUENCE_DIGITS + 1 + SHARD_DIGITS;

/**
 * The shard field of a position the gate gave a replayed dead letter (Redis clock, a counter):
 * above every real shard (at most 1024), it belongs to no intake entry.
 */
export const REPLAYED_SHARD = 99_999;

const STREAM_ID = /^(\d{1,16})-(\d{1,20})$/;

function position(ms: bigint, sequence: bigint, shard: number): string {
  return `${ms.toString().padStart(MS_DIGITS, '0')}-${sequence.toString().padStart(SEQUENCE_DIGITS, '0')}-${String(shard).padStart(SHARD_DIGITS, '0')}`;
}

function streamId(entryId: string): { ms: bigint; sequence: bigint } {
  const match = STREAM_ID.exec(entryId);
  if (!match) throw new Error(`not a stream entry id: ${entryId.slice(0, 60)}`);
  return { ms: BigInt(match[1]!), sequence: BigInt(match[2]!) };
}

/** The position of intake entry `entryId` (`1700000000000-3`) of `shard`. */
export function entryPosition(entryId: string, shard: number): string {
  const { ms, sequence } = streamId(entryId);
  return position(ms, sequence, shard);
}

/** The intake entry a position names, or undefined for a replayed dead letter's. */
export function positionEntry(text: string): { entryId: string; shard: number } | undefined {
  const [ms, sequence, shard] = text.split('-');
  if (ms === undefined || sequence === undefined || shard === undefined || Number(shard) === REPLAYED_SHARD) return undefined;
  return { entryId: `${BigInt(ms)}-${BigInt(sequence)}`, shard: Number(shard) };
}

/** What a shard's watermark is read from (workers/route/intake-watermark.ts). */
export type WatermarkReading =
  /** The first entry of the shard not yet routed (outside the batch being routed, if one). */
  | { readonly kind: 'first'; readonly entryId: string }
  /** Nothing unrouted: every later entry gets an id above the last one and at least the node's clock. */
  | { readonly kind: 'after'; readonly lastEntryId: string | undefined; readonly clockMs: number };

/**
 * The shard's watermark as a position: every intake entry of the shard positioned before it has
 * been entered into the gates. Entries appended later get higher ids (Redis makes a stream's ids
 * grow, at least up to its clock), so a watermark only grows.
 */
export function watermarkPosition(reading: WatermarkReading, shard: number): string {
  if (reading.kind === 'first') return entryPosition(reading.entryId, shard);
  const clock = position(BigInt(Math.max(0, Math.floor(reading.clockMs))), 0n, shard);
  if (reading.lastEntryId === undefined) return clock;
  const last = streamId(reading.lastEntryId);
  const afterLast = position(last.ms, last.sequence + 1n, shard);
  return afterLast > clock ? afterLast : clock;
}
