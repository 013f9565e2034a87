/** Intake entries as Redis returns them, and which shard a callback goes to: pure, no Redis. */
import { describe, expect, it } from 'vitest';
import { entriesOfClaim, entriesOfRead, parseEntry } from '../../workers/route/intake-entry.js';
import { ROUTER_GROUP, UNROUTED_QUEUE, deliveryQueueName, intakeKeys, queuePrefix, rejectedKey, replayKey, shardOf } from '../../src/shared/names.js';

const fields = ['id', 'cb_00ff', 'event', 'mix_stop', 'app', '111111', 'body', '{"a":6085791336856668982}', 'at', '1700000000123'];

describe('parseEntry', () => {
  it('reads every field the intake script writes, the body untouched', () => {
    expect(parseEntry(['1-0', fields])).toEqual({
      entryId: '1-0',
      data: { callbackId: 'cb_00ff', event: 'mix_stop', appId: '111111', body: '{"a":6085791336856668982}', receivedAt: 1_700_000_000_123 },
    });
  });

  it('has no data for a deleted entry or one the receiver did not write', () => {
    // Its entry id is kept all the same: the router acknowledges it by that id.
    expect(parseEntry(['2-0', null])).toEqual({ entryId: '2-0', data: undefined });
    expect(parseEntry(['3-0', fields.slice(0, 6)]).data).toBeUndefined();
    expect(parseEntry(['4-0', [...fields.slice(0, 8), 'at', 'soon']]).data).toBeUndefined();
  });

  it.each(['id', 'event', 'app', 'body', 'at'])('has no data for an entry without its %s field, and says so', (name) => {
    const at = fields.indexOf(name);
    const without = [...fields.slice(0, at), ...fields.slice(at + 2)];
    // Its fields are kept: the router sets such an entry aside for an operator to see.
    expect(parseEntry(['6-0', without])).toEqual({ entryId: '6-0', data: undefined, problem: 'a field is missing (an entry has id, event, app, body, at)', fields: without });
  });

  it('refuses what BullMQ would refuse as a job id, or what the receiver never writes', () => {
    const withValue = (name: string, value: string) => fields.map((field, index) => (index > 0 && fields[index - 1] === name ? value : field));
    const problem = (name: string, value: string) => parseEntry(['11-0', withValue(name, value)]).problem;
    // BullMQ: "Custom Id cannot be integers", "Custom Id cannot contain :".
    expect(problem('id', '777')).toBe('its id "777" is not a callback id (cb_ and letters, digits, _ or -)');
    expect(problem('id', 'cb_a:b')).toContain('is not a callback id');
    expect(problem('id', 'cb_')).toContain('is not a callback id');
    expect(problem('id', `cb_${'a'.repeat(129)}`)).toContain('is not a callback id');
    expect(problem('id', 'x'.repeat(100))).toBe(`its id "${'x'.repeat(40)}" is not a callback id (cb_ and letters, digits, _ or -)`);
    expect(problem('event', 'e'.repeat(256))).toBe('its event is longer than 255 characters');
    expect(problem('at', '-1')).toBe('its time (at) is not milliseconds since the epoch');
    expect(problem('at', '1.5')).toBe('its time (at) is not milliseconds since the epoch');
    expect(problem('at', '1e30')).toBe('its time (at) is not milliseconds since the epoch');
    // At the edges, still a callback.
    expect(parseEntry(['12-0', withValue('id', `cb_${'a'.repeat(128)}`)]).data).toBeDefined();
    expect(parseEntry(['13-0', withValue('event', 'e'.repeat(255))]).data).toBeDefined();
    expect(parseEntry(['14-0', withValue('at', '0')]).data).toMatchObject({ receivedAt: 0 });
  });

  it('needs a callback id, but takes an empty event, app or body as written', () => {
    const withValue = (name: string, value: string) => fields.map((field, index) => (index > 0 && fields[index - 1] === name ? value : field));
    expect(parseEntry(['7-0', withValue('id', '')]).data).toBeUndefined();
    expect(parseEntry(['8-0', withValue('event', '')]).data).toMatchObject({ event: '', callbackId: 'cb_00ff' });
    expect(parseEntry(['9-0', withValue('body', '')]).data).toMatchObject({ body: '' });
    // A field name without a value (an odd-length list) is not read as a field.
    expect(parseEntry(['10-0', [...fields.slice(0, 8), 'at']]).data).toBeUndefined();
  });

  it('reads XREADGROUP and XAUTOCLAIM replies', () => {
    expect(entriesOfRead([])).toEqual([]);
    expect(entriesOfRead('OK')).toEqual([]);
    expect(entriesOfRead([['stream', null]])).toEqual([]);
    expect(entriesOfClaim(['0-0', null, []])).toEqual({ cursor: '0-0', entries: [] });
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

  it('binds a signed timestamp and nonce across apps and shards: its key names the signature, no app and no shard', () => {
    expect(replayKey('zr', '5bd59fd62953a8059fb7eaba95720f66d19e4517')).toBe('{zr:replay:5bd59fd62953a8059fb7eaba95720f66d19e4517}');
  });

  it('gives a callback the same shard every time, spread over all shards', () => {
    expect(shardOf('cb_ffffffff00', 1)).toBe(0);
    expect(shardOf('cb_0000000a11', 4)).toBe(shardOf('cb_0000000a11', 4));
    const shards = new Set(Array.from({ length: 64 }, (_unused, index) => shardOf(`cb_${index.toString(16).padStart(8, '0')}aa`, 4)));
    expect(shards).toEqual(new Set([0, 1, 2, 3]));
  });

  it('takes the shard of a relay id from its first 32 bits of hash, whatever the number of shards', () => {
    expect(shardOf('cb_0000000a11', 4)).toBe(2);
    expect(shardOf('cb_ffffffff00', 16)).toBe(15);
    expect(shardOf('cb_0000000b', 3)).toBe(2);
    expect(shardOf('cb_12345678', 0)).toBe(0);
  });

  it('hashes any other id with 32-bit FNV-1a, so every process agrees on its shard', () => {
    // FNV-1a test vectors: "a" -> 0xe40c292c, "foobar" -> 0xbf9cf968.
    expect(shardOf('a', 2 ** 32)).toBe(0xe40c292c);
    expect(shardOf('foobar', 2 ** 32)).toBe(0xbf9cf968);
    // Not a relay id (no `cb_` and eight hex digits): checked against a reference FNV-1a in BigInt.
    const fnv1a = (text: string) => {
      let hash = 0x811c9dc5n;
      for (const char of text) hash = ((hash ^ BigInt(char.charCodeAt(0))) * 0x01000193n) & 0xffffffffn;
      return Number(hash);
    };
    for (const id of ['cb_zzzzzzzz', 'cb_0000000', 'cb-0000000a11', 'CB_0000000A11']) expect(shardOf(id, 2 ** 32), id).toBe(fnv1a(id));
  });
});

describe('names', () => {
  it('names queues and keys as the layout says', () => {
    expect(deliveryQueueName('billing')).toBe('deliver-billing');
    expect(UNROUTED_QUEUE).toBe('unrouted');
    expect(ROUTER_GROUP).toBe('routers');
    expect(rejectedKey('zr')).toBe('{zr:rejected}');
    const keys = intakeKeys('zr', 2);
    expect([keys.stream, keys.seen('cb_1')]).toEqual(['{zr:intake:2}:stream', '{zr:intake:2}:seen:cb_1']);
  });
});
