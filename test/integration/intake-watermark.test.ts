/**
 * A shard's watermark for the key gates (workers/route/intake-watermark.ts) against a real Redis:
 * the first entry of the stream outside the ranges already entered (the batch being routed, the
 * sibling lanes' batches of this process), in any order, overlapping or not.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { mergedRanges, readWatermark } from '../../workers/route/intake-watermark.js';
import { useTestRedis } from '../helpers/redis.js';

const redis = useTestRedis();

/** A stream with entries 1-0 .. 10-0. */
async function stream(): Promise<string> {
  const key = `watermark-${randomUUID()}`;
  for (let ms = 1; ms <= 10; ms += 1) await redis.inspector.xadd(key, `${ms}-0`, 'f', 'v');
  return key;
}

const range = (first: number, last: number) => ({ first: `${first}-0`, last: `${last}-0` });

describe('the watermark of an intake shard', () => {
  it('is the first entry outside every range skipped', async () => {
    const key = await stream();
    expect(await readWatermark(redis.inspector, key)).toEqual({ kind: 'first', entryId: '1-0' });
    expect(await readWatermark(redis.inspector, key, [range(3, 5)])).toEqual({ kind: 'first', entryId: '1-0' });
    expect(await readWatermark(redis.inspector, key, [range(3, 5), range(1, 2)])).toEqual({ kind: 'first', entryId: '6-0' });
    expect(await readWatermark(redis.inspector, key, [range(4, 5), range(1, 2)])).toEqual({ kind: 'first', entryId: '3-0' });
    expect(await readWatermark(redis.inspector, key, [range(1, 4), range(3, 7)])).toEqual({ kind: 'first', entryId: '8-0' });
  });

  it('is just after the stream once every entry lies in a range', async () => {
    const key = await stream();
    const reading = await readWatermark(redis.inspector, key, [range(6, 10), range(1, 5)]);
    expect(reading).toMatchObject({ kind: 'after', lastEntryId: '10-0' });
  });
});

describe('the ranges skipped', () => {
  it('are walked ascending, overlapping ones merged (ids compared as numbers)', () => {
    expect(mergedRanges([range(9, 12), range(1, 2), range(2, 4), range(10, 11)])).toEqual([range(1, 4), range(9, 12)]);
    expect(mergedRanges([{ first: '10-0', last: '10-5' }, { first: '9-7', last: '9-9' }])).toEqual([{ first: '9-7', last: '9-9' }, { first: '10-0', last: '10-5' }]);
  });
});
