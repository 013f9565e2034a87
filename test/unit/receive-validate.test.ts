/**
 * What a refused body is told, exactly (400 invalid_payload / invalid_body, 415), and which declared
 * types are read: pure, no server.
 */
import { describe, expect, it } from 'vitest';
import { HttpError } from '../../src/errors.js';
import { decodeBody, quoteName } from '../../src/receive/payload.js';
import { callbackText, isAcceptedContentType } from '../../src/http/read-body.js';
import { urlDecode } from '../../src/receive/url-encoding.js';
import { validateCallback } from '../../src/receive/validate.js';

const VALID = { appid: '1', event: 'mix_stop', timestamp: '1700000000', nonce: 'n', signature: 's', task_id: 't', seq: '1' };
const json = (fields: Record<string, unknown>) => JSON.stringify(fields);

function refusal(run: () => unknown): { status: number; code: string; message: string } {
  try {
    run();
  } catch (error) {
    if (error instanceof HttpError) return { status: error.status, code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected an HttpError');
}

const validate = (text: string, allowUnknownEvents = true) => validateCallback(decodeBody(text), { allowUnknownEvents });

describe('validating a callback', () => {
  it.each([
    ['an object as nonce', { ...VALID, nonce: { a: 1 } }, 'the field "nonce" must be a string or a number'],
    ['a missing appid', { ...VALID, appid: undefined }, 'the field appid (or AppId) is missing or empty'],
    ['an empty event', { ...VALID, event: '' }, 'the field event (or Event) is missing or empty'],
    ['an appid with letters', { ...VALID, appid: '1a' }, 'appid must be a number of at most 20 digits'],
    ['an appid of 21 digits', { ...VALID, appid: '1'.repeat(21) }, 'appid must be a number of at most 20 digits'],
    ['an event with a space', { ...VALID, event: 'mix stop' }, 'event must be 1 to 64 letters, digits, "_", "." or "-"'],
    ['an event of 65 characters', { ...VALID, event: 'e'.repeat(65) }, 'event must be 1 to 64 letters, digits, "_", "." or "-"'],
    ['a timestamp with a sign', { ...VALID, timestamp: '-1700000000' }, 'timestamp must be Unix seconds (digits, no leading zero)'],
    ['a timestamp with a plus sign', { ...VALID, timestamp: '+1700000000' }, 'timestamp must be Unix seconds (digits, no leading zero)'],
    ['a timestamp with a suffix', { ...VALID, timestamp: '1700000000s' }, 'timestamp must be Unix seconds (digits, no leading zero)'],
    // A 0 moved from the nonce's end to the timestamp's front signs the same text (docs/SECURITY.md).
    ['a zero-padded timestamp', { ...VALID, timestamp: '01700000000' }, 'timestamp must be Unix seconds (digits, no leading zero)'],
    ['the timestamp 0', { ...VALID, timestamp: '0' }, 'timestamp must be Unix seconds (digits, no leading zero)'],
    ['a timestamp with a space', { ...VALID, timestamp: ' 1700000000' }, 'timestamp must be Unix seconds (digits, no leading zero)'],
    ['a timestamp of 16 digits (beyond exact JS numbers)', { ...VALID, timestamp: '9'.repeat(16) }, 'timestamp must be Unix seconds (digits, no leading zero)'],
    ['a nonce of 256 bytes', { ...VALID, nonce: 'é'.repeat(128) }, 'nonce must be at most 255 bytes'],
    ['a signature of 256 bytes', { ...VALID, signature: 's'.repeat(256) }, 'signature must be at most 255 bytes'],
    ['mix_stop without seq', { ...VALID, seq: '' }, 'mix_stop needs the field "seq"'],
    ['a mix_url of 256 bytes', { ...VALID, mix_url: 'u'.repeat(256) }, 'the field "mix_url" must be at most 255 bytes'],
  ])('refuses %s, saying so', (_name, fields, message) => {
    expect(refusal(() => validate(json(fields)))).toEqual({ status: 400, code: 'invalid_payload', message });
  });

  it('accepts the limits themselves', () => {
    const atLimits = { ...VALID, appid: '9'.repeat(20), event: 'mix_stop', nonce: 'é'.repeat(127) + 'n', signature: 's'.repeat(255), mix_url: 'u'.repeat(255) };
    expect(validate(json(atLimits))).toMatchObject({ appId: '9'.repeat(20), nonce: atLimits.nonce, known: true });
    expect(validate(json({ ...VALID, event: 'e'.repeat(64) })).known).toBe(false);
    expect(validate(json({ ...VALID, timestamp: '9'.repeat(15) })).timestamp).toBe('9'.repeat(15));
    expect(validate(`{"appid":1,"event":"x","timestamp":1700000000,"nonce":"n","signature":"s"}`).timestamp).toBe('1700000000');
  });

  it('refuses an unknown event only when told to, naming it', () => {
    expect(validate(json({ ...VALID, event: 'brand_new' })).known).toBe(false);
    expect(refusal(() => validate(json({ ...VALID, event: 'brand_new' }), false))).toEqual({
      status: 400, code: 'invalid_payload', message: 'the event "brand_new" is not accepted (zego.allowUnknownEvents is false)',
    });
    expect(validate(json({ ...VALID, event: 'transcode_done' }), false).known).toBe(true);
  });

  it('reads PascalCase common fields', () => {
    const { appid: _a, event: _e, timestamp: _t, nonce: _n, signature: _s, ...rest } = VALID;
    const callback = validate(json({ AppId: 7, Event: 'mix_stop', Timestamp: 1700000000, Nonce: 'n', Signature: 'S', ...rest }));
    expect(callback).toMatchObject({ appId: '7', event: 'mix_stop', timestamp: '1700000000', nonce: 'n', signature: 'S' });
  });
});

describe('decoding a body', () => {
  it.each([
    ['JSON that does not parse', '{"a":', 400, 'invalid_body', 'the body is not valid JSON'],
    ['URL-encoded JSON that does not parse', '%7B%22a', 400, 'invalid_body', 'the body is URL-encoded but not valid JSON'],
    ['a JSON array', ' [1]', 400, 'invalid_payload', 'the body is JSON but not an object'],
    ['a JSON number', '-1', 400, 'invalid_payload', 'the body is JSON but not an object'],
    ['a JSON string', '"x"', 400, 'invalid_payload', 'the body is JSON but not an object'],
    ['a repeated JSON key', '{"a":1,"a":2}', 400, 'invalid_payload', 'the field "a" appears more than once'],
    ['a repeated scalar form field', 'nonce=1&nonce=2', 400, 'invalid_payload', 'the field "nonce" appears more than once'],
    ['both signature spellings', json({ ...VALID, Signature: 's' }), 400, 'invalid_payload', 'the fields "signature" and "Signature" differ only in letter case'],
    ['appid and APPID in JSON', json({ ...VALID, APPID: '2' }), 400, 'invalid_payload', 'the fields "appid" and "APPID" differ only in letter case'],
    ['nonce and Nonce in JSON', json({ Nonce: 'm', ...VALID }), 400, 'invalid_payload', 'the fields "Nonce" and "nonce" differ only in letter case'],
    ['a free-form field in two cases in JSON', json({ ...VALID, Room: 'a', room: 'b' }), 400, 'invalid_payload', 'the fields "Room" and "room" differ only in letter case'],
    ['appid and APPID in a form', 'appid=1&event=mix_stop&APPID=2', 400, 'invalid_payload', 'the fields "appid" and "APPID" differ only in letter case'],
    ['a free-form field in two cases in a form', 'tag=a&TAG=b', 400, 'invalid_payload', 'the fields "tag" and "TAG" differ only in letter case'],
    ['keys equal under Unicode case folding (long s, Kelvin sign)', json({ ...VALID, 'ſeq': '2', 'task_id\u212a': 'x', 'task_idk': 'y' }), 400, 'invalid_payload', 'the fields "seq" and "ſeq" differ only in letter case'],
    ['the Kelvin sign', '{"linK":1,"link":2}'.replace('K', '\u212a'), 400, 'invalid_payload', 'the fields "lin\u212a" and "link" differ only in letter case'],
    ['a form with escapes that are not UTF-8', 'a=%C3%28', 400, 'invalid_body', 'the body has %-escapes that are not UTF-8'],
  ])('refuses %s', (_name, text, status, code, message) => {
    expect(refusal(() => decodeBody(text))).toEqual({ status, code, message });
  });

  it('reads what only looks like JSON as a form', () => {
    expect([...decodeBody('-x=1').fields.keys()]).toEqual(['-x']);
    expect([...decodeBody('[x=1').fields.keys()]).toEqual(['[x']);
    expect([...decodeBody('1x=2').fields.keys()]).toEqual(['1x']);
    expect(decodeBody('a={x}&b=1').fields.get('a')).toEqual({ text: '{x}', scalar: true });
    expect(decodeBody('a=%7Bx%7D&b=1').fields.get('a')).toEqual({ text: '{x}', scalar: true });
    expect(decodeBody('a&b=&=c&&d=1=2').fields).toEqual(new Map([
      ['a', { text: '', scalar: true }], ['b', { text: '', scalar: true }], ['', { text: 'c', scalar: true }], ['d', { text: '1=2', scalar: true }],
    ]));
  });

  it('turns a repeated free-form field into a list, forwarded as a JSON array', () => {
    const decoded = decodeBody('tag=a&tag=b&x=1');
    expect(decoded.fields.get('tag')).toEqual({ text: '["a","b"]', scalar: false });
    expect(decoded.forwardBody).toBe('{"tag":["a","b"],"x":"1"}');
  });

  it('marks JSON values that are not strings or numbers as not scalar', () => {
    const { fields } = decodeBody('{"s":"x","n":-1.5e3,"t":true,"z":null,"o":{},"l":[]}');
    expect([...fields].map(([name, value]) => [name, value.scalar])).toEqual([['s', true], ['n', true], ['t', false], ['z', false], ['o', false], ['l', false]]);
  });

  it('quotes a field name in a message, cut at 64 characters', () => {
    expect(quoteName('a"b')).toBe('"a\\"b"');
    expect(quoteName('x'.repeat(64))).toBe(`"${'x'.repeat(64)}"`);
    expect(quoteName('x'.repeat(65))).toBe(`"${'x'.repeat(64)}..."`);
  });
});

describe('URL-decoding', () => {
  it.each([
    ['a+b', 'a b'], ['a%20b', 'a b'], ['100%', '100%'], ['%zz%41', '%zzA'], ['%e2%82%ac+%', '€ %'], ['plain', 'plain'], ['%2B', '+'],
    // A stray % makes each run of escapes decode on its own; a byte order mark there is kept too.
    ['%EF%BB%BFa%', '\ufeffa%'],
  ])('reads %j as %j', (text, decoded) => expect(urlDecode(text)).toBe(decoded));
});

describe('declared content types', () => {
  it.each([
    [undefined, true], ['', true], ['application/json', true], ['Application/JSON; charset=utf-8', true], [' text/plain ;x=1', true],
    ['application/x-www-form-urlencoded', true], ['application/octet-stream', true], ['application/xml', false], ['json', false],
  ])('%j is read: %s', (contentType, accepted) => expect(isAcceptedContentType(contentType)).toBe(accepted));

  it('refuses another type with 415, and bytes that are not UTF-8 with 400', () => {
    expect(refusal(() => callbackText(Buffer.from('{}'), 'application/xml'))).toEqual({
      status: 415, code: 'unsupported_media_type',
      message: 'send application/json, application/x-www-form-urlencoded, text/plain, application/octet-stream or no content type',
    });
    expect(refusal(() => callbackText(Buffer.from([0x7b, 0xff, 0x7d]), undefined))).toEqual({ status: 400, code: 'invalid_body', message: 'the body is not valid UTF-8' });
    expect(callbackText(Buffer.from('\ufeff{}'), 'text/plain')).toBe('\ufeff{}');
  });
});
