/** Intake entries as Redis returns them, and which shard a callback goes to: pure, no Redis. */
import { describe, expect, it } from 'vitest';
import { entriesOfClaim, entriesOfRead, parseEntry } from '../src/route/intake-entry.js';
import { intakeKeys, nonceKey, queuePrefix, shardOf } from '../src/shared/names.js';

const fields = ['id', 'cb_00ff', 'event', 'mix_stop', 'app', '111111', 'body', '{"a":6085791336856668982}', 'at', '1700000000123'];

describe('parseEntry', () => {
  it('reads every field the intake script writes, the body untouched', () => {
    expect(parseEntry(['1-0', fields])).toEqual({
      entryId: '1-0',
      data: { callbackId: 'cb_00ff', event: 'mix_stop', appId: '111111', body: '{"a":6085791336856668982}', receivedAt: 1_700_000_000_123 },
    });
  });

  it('has no data for a deleted entry or one the receiver did not write', () => {
    expect(parseEntry(['2-0', null]).data).toBeUndefined();
    expect(parseEntry(['3-0', fields.slice(0, 6)]).data).toBeUndefined();
    expect(parseEntry(['4-0', [...fields.slice(0, 8), 'at', 'soon']]).data).toBeUndefined();
  });

  it('reads XREADGROUP and XAUTOCLAIM replies', () => {
    expect(entriesOfRead(null)).toEqual([]);
    expect(entriesOfRead([['stream', [['1-0', fields]]]]).map((entry) => entry.entryId)).toEqual(['1-0']);
    const claimed = entriesOfClaim(['5-0', [['1-0', fields], null], []]);
    expect(claimed.cursor).toBe('5-0');
    expect(claimed.entries.map((entry) => entry.entryId)).toEqual(['1-0']);
  });
});

describe('key layout', () => {
  it('puts the intake stream and seen markers of a shard under one hash tag, and each queue under its own', () => {
    const keys = intakeKeys('zr', 3);
    const tag = (key: string) => /\{[^}]+\}/.exec(key)?.[0];
    expect(new Set([tag(keys.stream), tag(keys.seen('cb_1'))])).toEqual(new Set(['{zr:intake:3}']));
    expect(queuePrefix('zr', 'deliver-billing')).toBe('{zr:deliver-billing}');
    expect(queuePrefix('zr', 'deliver-billing')).not.toBe(queuePrefix('zr', 'deliver-audit'));
  });

  it('binds a nonce across apps and shards: its key names no app and no shard', () => {
    expect(nonceKey('zr', '123')).toBe('{zr:nonce:123}');
  });

  it('gives a callback the same shard every time, spread over all shards', () => {
    expect(shardOf('cb_ffffffff00', 1)).toBe(0);
    expect(shardOf('cb_0000000a11', 4)).toBe(shardOf('cb_0000000a11', 4));
    const shards = new Set(Array.from({ length: 64 }, (_unused, index) => shardOf(`cb_${index.toString(16).padStart(8, '0')}aa`, 4)));
    expect(shards).toEqual(new Set([0, 1, 2, 3]));
  });
});
