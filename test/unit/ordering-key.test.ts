/**
 * Pure parts of ordered delivery: a callback's key for a target's `ordering.key`, and positions
 * (the order of intake entries as strings Redis sorts lexically).
 */
import { describe, expect, it } from 'vitest';
import { headRepair, nextLook } from '../../workers/deliver/gate-reconciler.js';
import { POSITION_LENGTH, REPLAYED_SHARD, entryPosition, positionEntry, watermarkPosition } from '../../src/targets/order-position.js';
import { bodyMembers, orderingKey } from '../../workers/route/ordering-key.js';

const APP = '111111';
const keyOf = (body: string, fields: readonly string[]) => orderingKey(bodyMembers(body), APP, fields);

describe('the key of a callback', () => {
  it.each([
    ['the first field present wins', '{"stream_alias":"s1","task_id":"t1"}', ['task_id', 'stream_alias'], `${APP}/task_id=t1`],
    ['a later field when the first is absent', '{"event":"stream_close","stream_alias":"s1","room_id":"r1"}', ['task_id', 'stream_alias', 'room_id'], `${APP}/stream_alias=s1`],
    ['none of the fields: unordered', '{"event":"snapshot"}', ['task_id', 'room_id'], undefined],
    ['a 64-bit number keeps every digit', '{"room_session_id":6085791336856668982}', ['room_session_id'], `${APP}/room_session_id=6085791336856668982`],
    ['an empty string is absent', '{"task_id":"","room_id":"r1"}', ['task_id', 'room_id'], `${APP}/room_id=r1`],
    ['null, booleans, objects and lists are absent', '{"a":null,"b":true,"c":{"x":1},"d":["1"],"e":"ok"}', ['a', 'b', 'c', 'd', 'e'], `${APP}/e=ok`],
    ['escapes are decoded', '{"room_id":"caf\\u00e9 1"}', ['room_id'], `${APP}/room_id=café 1`],
    ['a repeated field: its last value, as JSON.parse reads it', '{"task_id":"first","task_id":"last"}', ['task_id'], `${APP}/task_id=last`],
    ['not JSON: unordered', '{"task_id":"t1"', ['task_id'], undefined],
    ['not an object: unordered', '["task_id"]', ['task_id'], undefined],
  ])('%s', (_name, body, fields, expected) => {
    expect(keyOf(body, fields)).toBe(expected);
  });

  it('names the same key for "123" and 123 (a form cannot tell them apart), per app', () => {
    expect(keyOf('{"room_id":"123"}', ['room_id'])).toBe(keyOf('{"room_id":123}', ['room_id']));
    expect(orderingKey(bodyMembers('{"room_id":"123"}'), '222222', ['room_id'])).not.toBe(keyOf('{"room_id":"123"}', ['room_id']));
  });
});

describe('positions', () => {
  it('order intake entries as Redis orders their ids, then by shard, at a fixed width', () => {
    const ids = ['1700000000000-0', '1700000000000-1', '1700000000000-10', '1700000000001-0', '999999999999-5'];
    const positions = ids.map((id) => entryPosition(id, 0));
    expect(positions.every((position) => position.length === POSITION_LENGTH)).toBe(true);
    expect([...positions].sort()).toEqual([positions[4], positions[0], positions[1], positions[2], positions[3]]);
    expect(entryPosition('5-1', 2) > entryPosition('5-1', 1)).toBe(true);
    expect(entryPosition('5-1', 0) < entryPosition('5-2', 0)).toBe(true);
  });

  it('name the intake entry they came from, and none for a replayed dead letter', () => {
    expect(positionEntry(entryPosition('1700000000000-7', 3))).toEqual({ entryId: '1700000000000-7', shard: 3 });
    expect(positionEntry(`0001700000000000-00000000000000000001-${REPLAYED_SHARD}`)).toBeUndefined();
  });

  it('refuse what is not a stream id', () => {
    expect(() => entryPosition('abc', 0)).toThrow(/not a stream entry id/);
  });

  it('make a watermark of the first unrouted entry, or of the last id and the clock when none is left', () => {
    expect(watermarkPosition({ kind: 'first', entryId: '10-0' }, 1)).toBe(entryPosition('10-0', 1));
    // The clock is ahead: later entries get at least its milliseconds.
    expect(watermarkPosition({ kind: 'after', lastEntryId: '10-4', clockMs: 20 }, 0)).toBe(entryPosition('20-0', 0));
    // The clock is behind the last id (it went back): later ids still come after the last one.
    expect(watermarkPosition({ kind: 'after', lastEntryId: '30-4', clockMs: 20 }, 0)).toBe(entryPosition('30-5', 0));
    expect(watermarkPosition({ kind: 'after', lastEntryId: undefined, clockMs: 20 }, 0)).toBe(entryPosition('20-0', 0));
  });
});

describe("the reconciler's repair of a head", () => {
  it.each([
    ['released', 'delayed', false, { kind: 'promote' }],
    ['running', 'delayed', false, { kind: 'later' }],
    ['released', 'waiting', false, { kind: 'later' }],
    ['running', 'active', false, { kind: 'later' }],
    ['released', 'prioritized', false, { kind: 'later' }],
    ['running', 'completed', false, { kind: 'finish', outcome: 'delivered' }],
    ['released', 'completed', false, { kind: 'finish', outcome: 'delivered' }],
    ['running', 'failed', false, { kind: 'finish', outcome: 'dead' }],
    ['released', 'unknown', true, { kind: 'later' }],
    ['released', 'unknown', false, { kind: 'finish', outcome: 'removed' }],
    ['running', 'unknown', false, { kind: 'finish', outcome: 'removed' }],
  ] as const)('a %s head whose job is %s (entry still in the intake: %s): %j', (state, jobState, entryPending, repair) => {
    expect(headRepair({ state }, jobState, entryPending)).toEqual(repair);
  });

  it('looks again after as long as the head has run, at least the grace and at most an hour', () => {
    expect(nextLook({ since: 1_000 }, 2_000, 30_000)).toBe(32_000);
    expect(nextLook({ since: 0 }, 600_000, 30_000)).toBe(1_200_000);
    expect(nextLook({ since: 0 }, 10 * 3_600_000, 30_000)).toBe(11 * 3_600_000);
  });
});
