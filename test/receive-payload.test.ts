import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { callbackId } from '../src/receive/callback-id.js';
import { decodeBody } from '../src/receive/payload.js';
import { topLevelMembers } from '../src/receive/raw-json.js';
import { validateCallback } from '../src/receive/validate.js';
import { formBody, jsonBody, mixStopFields, sign } from './helpers/zego.js';

const decodeJson = (text: string) => validateCallback(decodeBody({ format: 'json', text }), { allowUnknownEvents: true });
const decodeForm = (text: string) => validateCallback(decodeBody({ format: 'form', text }), { allowUnknownEvents: true });

describe('the raw JSON scanner', () => {
  it('gives every top-level value as JSON.parse reads it, for any JSON object', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), fc.boolean(), (object, pretty) => {
        const text = JSON.stringify(object, null, pretty ? 2 : undefined);
        const parsed = JSON.parse(text) as Record<string, unknown>;
        const members = topLevelMembers(text) ?? [];
        expect(members.map((member) => member.key)).toEqual(Object.keys(parsed));
        for (const member of members) {
          const value = member.kind === 'string' ? member.text : JSON.parse(member.text);
          expect(value).toEqual(parsed[member.key]);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps the digits of a 64-bit number that JSON.parse would round', () => {
    const text = '{ "room_session_id" : 6085791336856668982 , "n": -1.5e3, "s": "a\\"b}", "o": {"x": [1, "]"]} }';
    expect(topLevelMembers(text)).toEqual([
      { key: 'room_session_id', kind: 'number', text: '6085791336856668982' },
      { key: 'n', kind: 'number', text: '-1.5e3' },
      { key: 's', kind: 'string', text: 'a"b}' },
      { key: 'o', kind: 'object', text: '{"x": [1, "]"]}' },
    ]);
    expect(topLevelMembers('[1]')).toBeUndefined();
  });
});

describe('the callback id', () => {
  it('is the same for the JSON and the form version of one callback, and for each re-send', () => {
    const fields = mixStopFields();
    const ids = new Set([
      callbackId(decodeJson(jsonBody(sign(fields)))),
      callbackId(decodeForm(formBody(sign(fields)))),
      callbackId(decodeJson(jsonBody(sign(fields, { timestamp: '1700000000', nonce: 'other' })))),
    ]);
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/^cb_[0-9a-f]{32}$/);
  });

  it('uses only the identity fields of a known event', () => {
    const fields = mixStopFields();
    const base = callbackId(decodeJson(jsonBody(sign(fields))));
    expect(callbackId(decodeJson(jsonBody(sign({ ...fields, mix_url: 'rtmp://elsewhere/x' }))))).toBe(base);
    expect(callbackId(decodeJson(jsonBody(sign({ ...fields, seq: '1235' }))))).not.toBe(base);
    expect(callbackId(decodeJson(jsonBody(sign({ ...fields, appid: '222222' }))))).not.toBe(base);
  });

  it('reads 64-bit identity fields exactly: ...982 and ...983 are different callbacks', () => {
    const room = (id: string) => decodeJson(jsonBody(sign({ appid: { raw: '111111' }, event: 'room_create', room_session_id: { raw: id } })));
    expect(callbackId(room('6085791336856668982'))).not.toBe(callbackId(room('6085791336856668983')));
  });

  it('hashes the body without timestamp, nonce and signature for unknown events and is key-order independent', () => {
    const a = decodeJson(jsonBody(sign({ appid: '111111', event: 'custom_thing', b: '2', a: { raw: '{"x":1}' } })));
    const b = decodeJson(jsonBody(sign({ a: { raw: '{"x":1}' }, event: 'custom_thing', b: '2', appid: '111111' }, { nonce: 'n2' })));
    const c = decodeJson(jsonBody(sign({ appid: '111111', event: 'custom_thing', b: '3', a: { raw: '{"x":1}' } })));
    expect(callbackId(a)).toBe(callbackId(b));
    expect(callbackId(a)).not.toBe(callbackId(c));
  });

  it('falls back to the body hash when a known event lacks an identity field', () => {
    const one = decodeJson(jsonBody(sign({ appid: '111111', event: 'stream_create', stream_sid: 's1', extra: 'a' })));
    const two = decodeJson(jsonBody(sign({ appid: '111111', event: 'stream_create', stream_sid: 's1', extra: 'b' })));
    expect(callbackId(one)).not.toBe(callbackId(two));
  });

  it('is the same for PascalCase and snake_case common fields', () => {
    const fields = mixStopFields();
    const { appid, event, ...rest } = fields;
    const pascal = sign({ AppId: appid!, Event: event!, ...rest }, { pascalCase: true });
    expect(callbackId(decodeJson(jsonBody(pascal)))).toBe(callbackId(decodeJson(jsonBody(sign(fields)))));
  });
});
