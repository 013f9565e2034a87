/**
 * The key gate's scripts against a real Redis: what enter, advance, admit, finish and reenter
 * answer, and the state they leave (docs/RELIABILITY.md, "Ordered delivery per key").
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KeyGate, type GateMember, type GateSettings } from '../../src/targets/key-gate.js';
import { entryPosition, watermarkPosition } from '../../src/targets/order-position.js';
import { useTestRedis } from '../helpers/redis.js';

const redis = useTestRedis();

const SETTINGS: GateSettings = { shards: 1, graceMs: 60_000, lastTtlMs: 3_600_000, deadTtlMs: 3_600_000 };

function gateOf(settings: Partial<GateSettings> = {}): KeyGate {
  return new KeyGate(redis.inspector, `gate-${randomUUID()}`, 'rooms', { ...SETTINGS, ...settings });
}

/** The delivery of intake entry `ms-0` of `shard` for `key`, job `job`. */
const member = (key: string, ms: number, job: string, shard = 0): GateMember => ({ key, position: entryPosition(`${ms}-0`, shard), jobId: job });
/** The watermark of a shard whose first unrouted entry is `ms-0`. */
const firstUnrouted = (ms: number, shard = 0) => watermarkPosition({ kind: 'first', entryId: `${ms}-0` }, shard);

describe('the key gate', () => {
  it('releases a free key\'s first delivery before the barrier, holds the rest, and releases them one by one in order', async () => {
    const gate = gateOf();
    const entered = await gate.enter([member('a', 3, 'a3'), member('a', 1, 'a1'), member('b', 2, 'b2'), member('a', 2, 'a2')], { shard: 0, watermark: firstUnrouted(10) });
    expect(entered.statuses).toEqual(['held', 'released', 'released', 'held']);
    expect(await gate.stats()).toEqual({ keys: 2, heldKeys: 1, held: 2 });
    // The router acknowledged the batch: the stream now starts at entry 10.
    expect(await gate.advance(0, firstUnrouted(10))).toEqual([]);

    expect(await gate.admit('a', 'a2')).toBe('hold');
    expect(await gate.admit('a', 'a1')).toBe('go');
    expect(await gate.finish('a', 'a1', 'delivered')).toBe('a2');
    expect(await gate.admit('a', 'a2')).toBe('go');
    expect(await gate.finish('a', 'a2', 'delivered')).toBe('a3');
    expect(await gate.finish('a', 'a3', 'delivered')).toBeUndefined();
    expect(await gate.finish('a', 'a3', 'delivered')).toBeUndefined();
    expect(await gate.admit('a', 'a3')).toBe('gone');
    expect(await gate.stats()).toEqual({ keys: 1, heldKeys: 0, held: 0 });
  });

  it('releases nothing while a shard\'s watermark is unknown or not past it; advance releases in position order', async () => {
    const gate = gateOf({ shards: 2 });
    // Shard 1 has no watermark yet: nothing can be known to come first.
    expect((await gate.enter([member('a', 5, 'a5')], { shard: 0, watermark: firstUnrouted(10) })).statuses).toEqual(['held']);
    expect(await gate.advance(1, firstUnrouted(3, 1))).toEqual([]);
    // An entry of shard 1 at ms 3 is not routed yet: it may be a's, and it comes first.
    expect(await gate.advance(0, firstUnrouted(10))).toEqual([]);
    expect(await gate.advance(1, firstUnrouted(6, 1))).toEqual(['a5']);
  });

  it('keeps positions when a later batch is entered before an earlier one (two router lanes)', async () => {
    const gate = gateOf();
    // Lane B routes entries 201..202 first: entry 100 (lane A's batch) is not routed yet.
    const laneB = await gate.enter([member('a', 201, 'a201'), member('b', 202, 'b202')], { shard: 0, watermark: firstUnrouted(100) });
    expect(laneB.statuses).toEqual(['held', 'held']);
    // Lane A's batch 100..101 is contiguous and the first outside it is 201.
    const laneA = await gate.enter([member('a', 100, 'a100'), member('b', 101, 'b101')], { shard: 0, watermark: firstUnrouted(201) });
    expect(laneA.statuses).toEqual(['released', 'released']);
    expect(await gate.admit('a', 'a201')).toBe('hold');
    // Lane A acknowledged its batch: the stream starts at 201 now; lane B then acknowledges its own.
    expect(await gate.advance(0, firstUnrouted(201))).toEqual([]);
    expect(await gate.advance(0, watermarkPosition({ kind: 'after', lastEntryId: '202-0', clockMs: 150 }, 0))).toEqual([]);
    expect(await gate.finish('a', 'a100', 'delivered')).toBe('a201');
    expect(await gate.finish('b', 'b101', 'delivered')).toBe('b202');
  });

  it('refuses to enter again a delivery already finished (a router taking over a batch, or a slow one) and keeps the key\'s order', async () => {
    const gate = gateOf();
    const batch = [member('a', 1, 'a1'), member('a', 2, 'a2'), member('a', 3, 'a3')];
    await gate.enter(batch, { shard: 0, watermark: firstUnrouted(10) });
    await gate.advance(0, firstUnrouted(10));
    expect(await gate.finish('a', 'a1', 'delivered')).toBe('a2');
    // Entered again: the finished one is refused, the others answer as they are.
    expect((await gate.enter(batch, { shard: 0, watermark: firstUnrouted(10) })).statuses).toEqual(['done', 'released', 'held']);
    expect(await gate.finish('a', 'a2', 'delivered')).toBe('a3');
    expect(await gate.finish('a', 'a3', 'dead')).toBeUndefined();
    expect((await gate.enter(batch)).statuses).toEqual(['done', 'done', 'done']);
    expect(await gate.stats()).toEqual({ keys: 0, heldKeys: 0, held: 0 });
  });

  it('releases the next delivery when the head is dead-lettered, parks the dead letter, and re-enters replayed ones at the end in their order', async () => {
    const gate = gateOf();
    await gate.enter([member('a', 1, 'a1'), member('a', 2, 'a2'), member('a', 3, 'a3'), member('a', 4, 'a4')], { shard: 0, watermark: firstUnrouted(10) });
    await gate.advance(0, firstUnrouted(10));
    expect(await gate.finish('a', 'a1', 'dead')).toBe('a2');
    expect(await gate.finish('a', 'a2', 'delivered')).toBe('a3');
    expect(await gate.finish('a', 'a3', 'dead')).toBe('a4');
    const parked = await gate.parked('a');
    expect(parked.map((entry) => entry.jobId)).toEqual(['a1', 'a3']);

    // Replayed while a4 still runs: behind it, a1 before a3.
    expect(await gate.reenter('a', parked)).toBeUndefined();
    expect(await gate.parked('a')).toEqual([]);
    expect(await gate.admit('a', 'a1')).toBe('hold');
    expect(await gate.advance(0, watermarkPosition({ kind: 'after', lastEntryId: '4-0', clockMs: Date.now() + 1_000 }, 0))).toEqual([]);
    expect(await gate.finish('a', 'a4', 'delivered')).toBe('a1');
    expect(await gate.finish('a', 'a1', 'delivered')).toBe('a3');
    // Entering a replayed one again changes nothing.
    expect(await gate.reenter('a', parked)).toBeUndefined();
    expect(await gate.admit('a', 'a3')).toBe('go');
  });

  it('holds a replayed dead letter until the barrier has passed the moment it was replayed', async () => {
    const gate = gateOf();
    await gate.enter([member('a', 1, 'a1')], { shard: 0, watermark: firstUnrouted(10) });
    await gate.finish('a', 'a1', 'dead');
    expect(await gate.reenter('a', await gate.parked('a'))).toBeUndefined();
    expect(await gate.admit('a', 'a1')).toBe('hold');
    expect(await gate.advance(0, watermarkPosition({ kind: 'after', lastEntryId: '1-0', clockMs: Date.now() + 1_000 }, 0))).toEqual(['a1']);
  });

  it('records the own watermark it entered with: the batch\'s next delivery of a key is released by a finish before any advance', async () => {
    const gate = gateOf();
    expect((await gate.enter([member('a', 1, 'a1'), member('a', 2, 'a2')], { shard: 0, watermark: firstUnrouted(10) })).statuses).toEqual(['released', 'held']);
    // No advance yet (the router delivers the batch before acknowledging it): a2 goes next at once.
    expect(await gate.finish('a', 'a1', 'delivered')).toBe('a2');
    // A lower watermark entered later (a slower lane) never moves the recorded one back.
    await gate.enter([member('b', 5, 'b5'), member('b', 6, 'b6')], { shard: 0, watermark: firstUnrouted(3) });
    expect(await gate.finish('a', 'a2', 'delivered')).toBeUndefined();
    expect(await gate.advance(0, firstUnrouted(3))).toEqual(['b5']);
  });

  it('finishes several deliveries in one call as finish does each: the next of each key, none for one not in the gate', async () => {
    const gate = gateOf();
    await gate.enter([member('a', 1, 'a1'), member('a', 2, 'a2'), member('b', 3, 'b3'), member('c', 4, 'c4'), member('c', 5, 'c5')], { shard: 0, watermark: firstUnrouted(10) });
    expect(await gate.finishMany([{ key: 'a', jobId: 'a1' }, { key: 'b', jobId: 'b3' }, { key: 'x', jobId: 'x9' }, { key: 'c', jobId: 'c4' }], 'delivered')).toEqual(['a2', undefined, undefined, 'c5']);
    expect(await gate.stats()).toEqual({ keys: 2, heldKeys: 0, held: 0 });
    // Finished ones are not entered again, and calling twice is harmless.
    expect((await gate.enter([member('a', 1, 'a1'), member('b', 3, 'b3')])).statuses).toEqual(['done', 'done']);
    expect(await gate.finishMany([{ key: 'a', jobId: 'a1' }], 'delivered')).toEqual([undefined]);
    expect(await gate.admit('a', 'a2')).toBe('go');
  });

  it('lists heads due for a look, released or running, and skips them once checked again later', async () => {
    const gate = gateOf({ graceMs: 0 });
    await gate.enter([member('a', 1, 'a1'), member('b', 2, 'b2')], { shard: 0, watermark: firstUnrouted(10) });
    expect(await gate.admit('b', 'b2')).toBe('go');
    const due = await gate.dueHeads(Date.now() + 1_000, 10);
    expect(due.map(({ key, state, jobId }) => ({ key, state, jobId })).sort((x, y) => x.key.localeCompare(y.key))).toEqual([
      { key: 'a', state: 'released', jobId: 'a1' },
      { key: 'b', state: 'running', jobId: 'b2' },
    ]);
    await gate.checkAgainAt('a', Date.now() + 60_000);
    expect((await gate.dueHeads(Date.now() + 1_000, 10)).map((head) => head.key)).toEqual(['b']);
    expect(await gate.isHead('b', 'b2')).toBe(true);
    expect(await gate.isHead('a', 'b2')).toBe(false);
  });
});
