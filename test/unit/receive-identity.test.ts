/**
 * What identifies a callback (src/receive/callback-id.ts and the event table in
 * src/shared/events.ts), pure and event by event:
 * - the id's encoding is pinned: an id must never change between releases, or a callback stored
 *   by the old version and re-sent by ZEGO during an upgrade would be stored and delivered twice;
 * - every documented identity field of every event changes the id, and nothing else does;
 * - every documented event is known, every required field required, every 255-byte limit applied.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HttpError } from '../../src/errors.js';
import { callbackId } from '../../src/receive/callback-id.js';
import { decodeBody } from '../../src/receive/payload.js';
import { validateCallback } from '../../src/receive/validate.js';
import { eventLabel } from '../../src/shared/metrics.js';

const COMMON = { appid: '1', timestamp: '1700000000', nonce: 'n', signature: 's' };
const parse = (text: string) => validateCallback(decodeBody(text), { allowUnknownEvents: true });
const idOf = (fields: Record<string, unknown>) => callbackId(parse(JSON.stringify(fields)));

/** The id as the encoding is documented: SHA-256 of ["zego-relay/callback-id/1", pairs], 32 hex digits. */
function documentedId(pairs: [string, string][]): string {
  return `cb_${createHash('sha256').update(JSON.stringify(['zego-relay/callback-id/1', pairs])).digest('hex').slice(0, 32)}`;
}

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof HttpError) return `${error.status} ${error.code}: ${error.message}`;
    throw error;
  }
  return 'accepted';
}

/** Each event ZEGO documents identity fields for, with a value for each. */
const IDENTIFIED: Record<string, Record<string, string>> = {
  mix_start: { task_id: 't1', seq: '7' },
  mix_stop: { task_id: 't1', seq: '7' },
  stream_create: { stream_sid: 's1', stream_seq: '3' },
  stream_close: { stream_sid: 's1', stream_seq: '3' },
  room_login: { room_seq: '11', session_id: '12', user_update_seq: '13' },
  room_logout: { room_seq: '11', session_id: '12', user_update_seq: '13' },
  room_create: { room_session_id: '9007199254740993' },
  room_close: { room_session_id: '9007199254740993' },
  record: { stream_alias: 'alias', begin_time: '1700000000000', end_time: '1700000060000' },
};

describe('the callback id encoding (pinned across releases)', () => {
  it('identifies an event with identity fields by appid, event and those fields, in the documented order', () => {
    const id = idOf({ ...COMMON, event: 'mix_stop', seq: '7', task_id: 't1', extra: 'x' });
    expect(id).toBe(documentedId([['appid', '1'], ['event', 'mix_stop'], ['task_id', 't1'], ['seq', '7']]));
  });

  it('identifies any other event by every field but timestamp, nonce and signature, sorted by name, appid and event under one spelling', () => {
    const expected = documentedId([['alpha', '2'], ['appid', '1'], ['event', 'custom_event'], ['mid', '["1","a"]'], ['zeta', '1']]);
    expect(idOf({ zeta: '1', ...COMMON, event: 'custom_event', alpha: '2', mid: [1, 'a'] })).toBe(expected);
    // PascalCase common fields and a differently spaced array: the same callback, the same id.
    const pascal = '{"AppId":"1","Event":"custom_event","Timestamp":"1700000001","Nonce":"m","Signature":"t","zeta":"1","alpha":"2","mid":[ 1, "a" ]}';
    expect(callbackId(parse(pascal))).toBe(expected);
  });

  it('hashes an object or array value canonically, but a string that looks like one as the text it is', () => {
    const base = { ...COMMON, event: 'custom_event' };
    expect(idOf({ ...base, detail: { a: [1, 2] } })).toBe(callbackId(parse('{"appid":"1","timestamp":"1","nonce":"x","signature":"y","event":"custom_event","detail":{ "a" : [ 1 , 2 ] }}')));
    expect(idOf({ ...base, note: '[1, 2]' })).not.toBe(idOf({ ...base, note: '[1,2]' }));
    expect(idOf({ ...base, note: '{"a": 1}' })).not.toBe(idOf({ ...base, note: '{"a":1}' }));
  });
});

describe.each(Object.entries(IDENTIFIED))('the identity of %s', (event, identity) => {
  const callback = { ...COMMON, event, ...identity, room_id: 'r1', extra: 'x' };
  // Computed in each test, not while the tests are collected: an error here must fail a test.
  const id = () => idOf(callback);

  it.each(Object.keys(identity))(`${event}: a different %s is another callback`, (name) => {
    expect(idOf({ ...callback, [name]: `${identity[name]}0` })).not.toBe(id());
  });

  it(`${event}: the same identity with other fields changed is the same callback`, () => {
    expect(idOf({ ...callback, room_id: 'r2', extra: 'y', added: 'z', timestamp: '1700000099', nonce: 'm' })).toBe(id());
  });

  it(`${event}: another app or another event is another callback`, () => {
    expect(idOf({ ...callback, appid: '2' })).not.toBe(id());
    const other = event === 'room_close' ? 'room_create' : 'room_close';
    expect(idOf({ ...callback, event: other })).not.toBe(id());
  });

  it.each(Object.keys(identity))(`${event}: %s must be a string or a number`, (name) => {
    expect(refusal(() => idOf({ ...callback, [name]: { nested: 1 } }))).toBe(`400 invalid_payload: the field "${name}" must be a string or a number`);
  });
});

describe('the events ZEGO documents', () => {
  it.each([
    'mix_start', 'mix_stop', 'stream_create', 'stream_close', 'room_login', 'room_logout', 'room_create', 'room_close',
    'record', 'snapshot', 'compose', 'procedure',
  ])('%s is known: accepted when unknown events are not, and labelled by its name', (event) => {
    const fields = event in IDENTIFIED ? IDENTIFIED[event] : {};
    const text = JSON.stringify({ ...COMMON, event, ...fields });
    expect(refusal(() => validateCallback(decodeBody(text), { allowUnknownEvents: false }))).toBe('accepted');
    expect(eventLabel(event)).toBe(event);
  });

  it.each([['transcode_', 'transcode_done'], ['censor_', 'censor_audio']])('the family %s* is known', (family, event) => {
    const text = JSON.stringify({ ...COMMON, event });
    expect(refusal(() => validateCallback(decodeBody(text), { allowUnknownEvents: false }))).toBe('accepted');
    expect(eventLabel(event)).toBe(`${family}*`);
  });

  it('refuses an undocumented event unless unknown events are allowed', () => {
    const text = JSON.stringify({ ...COMMON, event: 'mix_pause' });
    expect(refusal(() => validateCallback(decodeBody(text), { allowUnknownEvents: false }))).toMatch(/^400 invalid_payload: /);
    expect(refusal(() => validateCallback(decodeBody(text), { allowUnknownEvents: true }))).toBe('accepted');
  });

  it.each([['mix_start', 'task_id'], ['mix_start', 'seq'], ['mix_stop', 'task_id'], ['mix_stop', 'seq']])('%s needs %s', (event, name) => {
    const fields: Record<string, string> = { ...COMMON, event, ...IDENTIFIED[event] };
    delete fields[name];
    expect(refusal(() => idOf(fields))).toBe(`400 invalid_payload: ${event} needs the field "${name}"`);
  });

  it.each(['channel_id', 'publish_id', 'mix_url', 'mix_stream_alias'])('%s: at most 255 bytes', (name) => {
    const base = { ...COMMON, event: 'mix_stop', ...IDENTIFIED.mix_stop };
    expect(refusal(() => idOf({ ...base, [name]: 'é'.repeat(127) + 'a' }))).toBe('accepted');
    expect(refusal(() => idOf({ ...base, [name]: 'é'.repeat(128) }))).toBe(`400 invalid_payload: the field "${name}" must be at most 255 bytes`);
  });

  it.each(['AppId', 'Event', 'Timestamp', 'Nonce', 'Signature'])('the PascalCase spelling %s is read as the common field', (name) => {
    const snake = { ...COMMON, event: 'mix_stop', ...IDENTIFIED.mix_stop };
    const key = name.toLowerCase() as keyof typeof snake;
    const { [key]: value, ...rest } = snake;
    const callback = parse(JSON.stringify({ ...rest, [name]: value }));
    expect([callback.appId, callback.event, callback.timestamp, callback.nonce, callback.signature]).toEqual(['1', 'mix_stop', '1700000000', 'n', 's']);
  });
});
