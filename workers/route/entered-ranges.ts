/**
 * The fresh batches this router process has entered into the key gates, per intake shard, while
 * their entries may still be in the stream (docs/RELIABILITY.md, "Ordered delivery per key", the
 * barrier). A shard's watermark skips them (intake-watermark.ts), so a lane's batch is not held
 * behind the batch its sibling lane is still delivering, only behind entries nobody entered yet.
 *
 * Only ever a help: a range is added once its batch is entered, and entered stays true (a crash
 * leaves its entries pending, entered already). Forgetting a range only makes a watermark lower,
 * which is merely cautious; so only the latest few per shard are kept, more than a process's
 * lanes have in hand at once.
 */
import type { EntryRange } from './intake-watermark.js';

/** Ranges kept per shard: each lane has one batch in hand at a time. */
const KEPT_PER_SHARD = 8;

export class EnteredRanges {
  private readonly byShard = new Map<number, EntryRange[]>();

  /** `range` (one contiguous range of `shard`'s stream) is entered into every gate. */
  add(shard: number, range: EntryRange): void {
    const ranges = this.byShard.get(shard) ?? [];
    ranges.push({ first: range.first, last: range.last });
    if (ranges.length > KEPT_PER_SHARD) ranges.shift();
    this.byShard.set(shard, ranges);
  }

  /** The ranges of `shard` known to be entered. */
  of(shard: number): readonly EntryRange[] {
    return this.byShard.get(shard) ?? [];
  }
}
