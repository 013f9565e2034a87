import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { callbackId } from '../../src/receive/callback-id.js';
import { decodeBody } from '../../src/receive/payload.js';
import { canonicalJson, topLevelMembers } from '../../src/lib/raw-json.js';
import { maskSignatures, rejectionSample } from '../../src/rejected/sample.js';
import { urlDecode } from '../../src/receive/url-encoding.js';
import { validateCallback } from '../../src/receive/validate.js';
import { formBody, jsonBody, mixStopFields, sign } from '../helpers/zego.js';

const decode = (text: string) => validateCallback(decodeBody(text), { allowUnknownEvents: true });
const decodeJson = decode;
const decodeForm = decode;

/** The body as a form-encoding client would URL-encode a JSON text (`+` for spaces). */
const urlEncodedJson = (json: string) => new URLSearchParams({ x: json }).toString().slice(2);

describe('reading a body by its shape', () => {
  const fields = sign(mixStopFields({ mix_url: 'rtmp://h/a b&c=d+e%', channel_id: '房间 1' }));
  const json = jsonBody(fields);
  const decodedFields = (text: string) => Object.fromEntries([...decodeBody(text).fields].map(([key, value]) => [key, value.text]));

  it('reads JSON, URL-encoded JSON (either escaping of spaces) and a form into the same fields', () => {
    const expected = decodedFields(json);
    expect(expected).toEqual(Object.fromEntries(Object.entries(fields)));
    expect(decodedFields(encodeURIComponent(json))).toEqual(expected);
    expect(decodedFields(urlEncodedJson(json))).toEqual(expected);
    expect(decodedFields(formBody(fields))).toEqual(expected);
  });

  it('forwards JSON byte-exact, URL-encoded JSON as the decoded text, a form as a JSON object of its fields', () => {
    const spaced = `\n ${json.replace(',', ' ,\t')} `;
    expect(decodeBody(spaced).forwardBody).toBe(spaced);
    expect(decodeBody(encodeURIComponent(json)).forwardBody).toBe(json);
    expect(decodeBody(urlEncodedJson(json).replace('%7B', '%7b')).forwardBody).toBe(json);
    expect(JSON.parse(decodeBody(formBody(fields)).forwardBody)).toEqual(fields);
  });

  it.each([
    ['JSON that does not parse', '{"appid": 1', 'invalid_body'],
    ['URL-encoded JSON that does not parse', '%7B%22appid%22%3A', 'invalid_body'],
    ['escapes that are not UTF-8', 'appid=%C3%28', 'invalid_body'],
    ['a JSON array', '[1,2,3]', 'invalid_payload'],
    ['a JSON string', '"x"', 'invalid_payload'],
    ['a JSON number', '42', 'invalid_payload'],
  ])('refuses %s as %s', (_name, text, code) => {
    expect(() => decodeBody(text)).toThrow(expect.objectContaining({ status: 400, code }));
  });

  it('keeps a stray % as it is, as PHP and browsers do', () => {
    expect(urlDecode('100%+sure%2')).toBe('100% sure%2');
    expect(urlDecode('a%zz%C3%A9')).toBe('a%zzé');
  });
});

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

  it('says how each value was written', () => {
    expect(topLevelMembers('{"a":[1],"o":{},"t":true,"f":false,"z":null,"n":0,"s":""}')?.map((member) => member.kind)).toEqual([
      'array', 'object', 'literal', 'literal', 'literal', 'number', 'string',
    ]);
  });

  it('writes a bare number or literal as a string of its text', () => {
    expect(canonicalJson('6085791336856668982')).toBe('"6085791336856668982"');
    expect(canonicalJson(' true ')).toBe('"true"');
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

  it('is the same for JSON, URL-encoded JSON and a form, for a known and for a body-hashed event', () => {
    const known = mixStopFields();
    const custom = { appid: '111111', event: 'custom_thing', room_session_id: '6085791336856668982', flag: 'true', tags: ['a', '2'] };
    const customJson = (nonce: string) =>
      jsonBody(sign({ ...custom, room_session_id: { raw: '6085791336856668982' }, flag: { raw: 'true' }, tags: { raw: '[ "a", 2 ]' } }, { nonce }));
    const customForm = (nonce: string) => {
      const form = formBody(sign({ ...custom, tags: 'a' }, { nonce }));
      return `${form}&tags=2`;
    };
    for (const [jsonText, formText] of [
      [(nonce: string) => jsonBody(sign(known, { nonce })), (nonce: string) => formBody(sign(known, { nonce }))],
      [customJson, customForm],
    ] as const) {
      const ids = new Set([
        callbackId(decode(jsonText('1'))),
        callbackId(decode(encodeURIComponent(jsonText('2')))),
        callbackId(decode(urlEncodedJson(jsonText('3')))),
        callbackId(decode(formText('4'))),
      ]);
      expect(ids.size).toBe(1);
    }
    expect(callbackId(decode(customJson('1')))).not.toBe(callbackId(decode(customJson('1').replace('668982', '668983'))));
  });

  it('is the same for PascalCase and snake_case common fields', () => {
    const fields = mixStopFields();
    const { appid, event, ...rest } = fields;
    const pascal = sign({ AppId: appid!, Event: event!, ...rest }, { pascalCase: true });
    expect(callbackId(decodeJson(jsonBody(pascal)))).toBe(callbackId(decodeJson(jsonBody(sign(fields)))));
  });
});

describe('the canonical text of a JSON value', () => {
  it('drops whitespace, writes every leaf as a string and keeps 64-bit digits', () => {
    expect(canonicalJson(' { "b" : [ 6085791336856668982 , true, null, "\\u0041" ], "a": {} } ')).toBe(
      '{"b":["6085791336856668982","true","null","A"],"a":{}}',
    );
  });

  it('survives any nesting depth', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(canonicalJson(deep)).toBe(deep);
  });
});

describe('a sample of a rejected request', () => {
  const signature = 'fadc2c4abb5714c30a711b3ad6f7783e37531263';

  it.each([
    ['JSON', `{"appid":"1","signature":"${signature}","nonce":"2"}`, '{"appid":"1","signature":"***","nonce":"2"}'],
    ['JSON, PascalCase and spaced', `{"Signature" : "${signature}"}`, '{"Signature" : "***"}'],
    ['JSON with a number', `{"signature": 12345, "x": 1}`, '{"signature": ***, "x": 1}'],
    ['JSON with a number, no spaces', `{"signature":12345}`, '{"signature":***}'],
    ['JSON with a number, spaced before the colon', `{"signature" :12345}`, '{"signature" :***}'],
    ['a form', `appid=1&signature=${signature}&nonce=2`, 'appid=1&signature=***&nonce=2'],
    ['a form starting with it', `Signature=${signature}`, 'Signature=***'],
    ['URL-encoded JSON', encodeURIComponent(`{"signature":"${signature}","n":"2"}`), '%7B%22signature%22%3A%22***%22%2C%22n%22%3A%222%22%7D'],
    ['a value cut by the end of the sample', `{"signature":"${signature.slice(0, 10)}`, '{"signature":"***'],
  ])('masks signature in %s', (_name, text, masked) => {
    expect(maskSignatures(text)).toBe(masked);
    expect(maskSignatures(text)).not.toContain(signature.slice(0, 10));
  });

  it.each([
    ['encodeURI, its colons raw', encodeURI(`{"appid":"1","signature":"${signature}","nonce":"2"}`)],
    ['encodeURI, spaced', encodeURI(`{"signature" : "${signature}"}`)],
    ['quotes raw, colons encoded', `{"signature"%3A"${signature}"}`],
  ])('masks signature by its key in URL-encoded JSON: %s', (_name, text) => {
    expect(maskSignatures(text)).not.toContain(signature.slice(0, 10));
    expect(maskSignatures(text)).toContain('***');
  });

  describe('with the signature the body was decoded with', () => {
    const upper = signature.toUpperCase();
    const percent = (text: string) => [...text].map((character) => `%${character.charCodeAt(0).toString(16)}`).join('');
    const jsonEscaped = [...signature].map((character) => `\\u00${character.charCodeAt(0).toString(16)}`).join('');
    it.each([
      ['a key the text patterns miss (JSON escape)', `{"sign\\u0061ture":"${signature}"}`],
      ['a key the text patterns miss (percent-encoded form key)', `x=1&sig%6eature=${signature}`],
      ['the value JSON-escaped', `{"sign\\u0061ture":"${jsonEscaped}"}`],
      ['the value percent-encoded, lower case', `sig%6eature=${percent(signature)}`],
      ['the value percent-encoded, upper case, in upper case', `sig%6Eature=${percent(upper).toUpperCase()}`],
      ['the value percent-encoded twice', `sig%6eature=${percent(signature).replace(/%/g, '%25')}`],
      ['the value JSON-escaped inside URL-encoded JSON', encodeURIComponent(`{"sign\\u0061ture":"${jsonEscaped}"}`)],
      ['the value in upper case elsewhere', `{"sign\\u0061ture":"${signature}","echo":"${upper}"}`],
    ])('masks it wherever it appears: %s', (_name, text) => {
      const masked = maskSignatures(text, [signature]);
      expect(masked).toContain('***');
      for (const spelling of [signature, upper, percent(signature), jsonEscaped]) expect(masked.toLowerCase()).not.toContain(spelling.slice(0, 12).toLowerCase());
      expect(decodeURIComponent(decodeURIComponent(masked)).toLowerCase()).not.toContain(signature.slice(0, 12));
    });

    it('masks its start cut by the end of a truncated sample, from 4 characters on', () => {
      const cut = `{"sign\\u0061ture":"${signature.slice(0, 9)}`;
      expect(maskSignatures(cut, [signature], true)).toBe('{"sign\\u0061ture":"***');
      expect(maskSignatures(`{"x":"${signature.slice(0, 3)}`, [signature], true)).toBe(`{"x":"${signature.slice(0, 3)}`);
      // Not truncated: only the whole value is masked.
      expect(maskSignatures(cut, [signature], false)).toBe(cut);
    });

    it('is given by rejectionSample from the request', () => {
      const body = Buffer.from(`x=1&sig%6eature=${signature}`);
      expect(rejectionSample({ status: 401, code: 'stale_timestamp', message: 'm', contentType: undefined, body, at: 0, signatures: [signature] }).body).toBe('x=1&sig%6eature=***');
    });
  });

  it('keeps the first 2 KB, says it is truncated, and the full size', () => {
    const body = Buffer.from(`{"signature":"${signature}","pad":"${'x'.repeat(5000)}"}`);
    const sample = rejectionSample({ status: 400, code: 'invalid_payload', message: 'm', contentType: 'text/plain', body, at: 0 });
    expect(sample).toMatchObject({ at: '1970-01-01T00:00:00.000Z', size: body.length, truncated: true, contentType: 'text/plain' });
    expect(sample.body.startsWith('{"signature":"***","pad":"xxx')).toBe(true);
    expect(Buffer.byteLength(sample.body)).toBeLessThanOrEqual(2048);
  });

  it('is not truncated at exactly 2 KB, and keeps at most 200 characters of the declared type', () => {
    const body = Buffer.from('x'.repeat(2048));
    const sample = rejectionSample({ status: 415, code: 'unsupported_media_type', message: 'm', contentType: `text/${'y'.repeat(300)}`, body, at: 0 });
    expect(sample).toMatchObject({ size: 2048, truncated: false, body: 'x'.repeat(2048) });
    expect(sample.contentType).toBe(`text/${'y'.repeat(195)}`);
  });
});
