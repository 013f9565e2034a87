/**
 * Fuzz at the receiver on a real port and a real Redis: thousands of random and mutated bodies,
 * content types, methods, paths and headers. Never a 5xx (503 only while Redis is down), never a
 * crash, every answer JSON in the documented shape (docs/PROTOCOL.md#the-receiver) with the status its code belongs to, and nothing
 * stored but the callbacks that were answered 200: jobs == distinct 200 ids, each with the bytes
 * of the try that stored it.
 */
import { Agent, request as httpRequest } from 'node:http';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { RelayConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/lib/logger.js';
import { startReceiver, type ReceiverHandle } from '../../src/receive/server.js';
import { intakeCallbacks } from '../helpers/intake.js';
import { startRedisServer, useTestRedis } from '../helpers/redis.js';
import { APP_ID, testConfig } from '../helpers/config.js';
import { formBody, jsonBody, mixStopFields, sign, type Fields } from '../helpers/zego.js';

/** Small, so that huge strings reach it cheaply. */
const BODY_LIMIT = 16 * 1024;

/** The status of each error code (docs/PROTOCOL.md#the-receiver). */
const STATUS_OF_CODE: Record<string, number> = {
  invalid_body: 400, invalid_payload: 400, unknown_app: 401, bad_signature: 401, stale_timestamp: 401, replayed_nonce: 401,
  not_found: 404, method_not_allowed: 405, payload_too_large: 413, unsupported_media_type: 415, unavailable: 503,
};

const redis = useTestRedis();
const agent = new Agent({ keepAlive: true, maxSockets: 8 });
afterAll(() => agent.destroy());

interface Sent {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  /** Send the body in several chunks without content-length. */
  chunked: boolean;
}

interface Answer {
  status: number;
  json: any;
}

function send(port: number, sent: Sent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // Explicit framing: Node's client sends a GET's body unframed unless told otherwise.
    const headers = { ...sent.headers, ...(sent.chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(sent.body.length) }) };
    const outgoing = httpRequest({ host: '127.0.0.1', port, method: sent.method, path: sent.path, headers, agent }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        try {
          resolve({ status: response.statusCode!, json: JSON.parse(text) });
        } catch {
          reject(new Error(`status ${response.statusCode} with a body that is not JSON: ${text.slice(0, 200)}`));
        }
      });
    });
    outgoing.on('error', reject);
    if (sent.chunked) {
      const middle = Math.floor(sent.body.length / 2);
      outgoing.write(sent.body.subarray(0, middle));
      outgoing.end(sent.body.subarray(middle));
    } else {
      outgoing.end(sent.body);
    }
  });
}

/** The documented answer shapes; returns the id of a 200. */
function expectContractShape(answer: Answer, sent: Sent): string | undefined {
  const context = `${answer.status} ${JSON.stringify(answer.json)} for ${sent.method} ${sent.path} ${JSON.stringify(sent.headers)} ${sent.body.toString('latin1').slice(0, 300)}`;
  if (answer.status === 200) {
    expect(answer.json, context).toEqual({ ok: true, id: expect.stringMatching(/^cb_[0-9a-f]{32}$/), duplicate: expect.any(Boolean) });
    return answer.json.id as string;
  }
  expect(answer.json, context).toEqual({ ok: false, error: { code: expect.any(String), message: expect.any(String) } });
  expect(STATUS_OF_CODE[answer.json.error.code], context).toBe(answer.status);
  return undefined;
}

// ---- generators -------------------------------------------------------------------------------

const contentTypes = fc.constantFrom(
  'application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/json;charset="UTF-8"',
  'application/json; charset=latin1', 'application/json; charset=utf-16', 'application/x-www-form-urlencoded',
  'application/x-www-form-urlencoded; charset=UTF-8', 'text/plain', 'multipart/form-data; boundary=x', '', 'application/jsonp',
  '*/*', 'application/json, text/plain', 'application/json;;;', ';', 'application/', undefined,
);

/** Extra headers a confused or hostile sender might add. */
const extraHeaders = fc.dictionary(
  fc.constantFrom('content-encoding', 'x-forwarded-for', 'accept', 'expect-nothing', 'x-zego-signature', 'authorization', 'accept-charset'),
  fc.constantFrom('gzip', 'deflate', '127.0.0.1, 10.0.0.1', 'text/html', '', 'Bearer x', '\t', 'identity'),
  { maxKeys: 3 },
);

/** A valid signed mix_stop's fields with a fresh task id. */
const signedFields = fc.record({ task: fc.uuid(), nonce: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }), pascal: fc.boolean() }).map(({ task, nonce, pascal }) =>
  sign(mixStopFields({ task_id: `${APP_ID}:${task}` }), { nonce: nonce.toString(), pascalCase: pascal }));

const FIELD_NAMES = ['appid', 'event', 'seq', 'task_id', 'channel_id', 'timestamp', 'nonce', 'signature', 'Timestamp', 'Nonce', 'Signature'];

/** One mutation of a valid callback, as JSON text or form text. */
type Mutation = (fields: Fields, asForm: boolean) => fc.Arbitrary<Buffer>;

const encode = (fields: Fields, asForm: boolean) => Buffer.from(asForm ? formBody(fields) : jsonBody(fields));
const present = (fields: Fields) => fc.constantFrom(...Object.keys(fields).filter((name) => FIELD_NAMES.includes(name) || name === 'mix_url'));

const mutations: Mutation[] = [
  // Untouched: must be stored.
  (fields, asForm) => fc.constant(encode(fields, asForm)),
  // Truncated anywhere.
  (fields, asForm) => { const full = encode(fields, asForm); return fc.nat({ max: full.length - 1 }).map((cut) => full.subarray(0, cut)); },
  // A field dropped.
  (fields, asForm) => present(fields).map((name) => { const { [name]: _dropped, ...rest } = fields; return encode(rest, asForm); }),
  // A field of another JSON type (objects, arrays, null, booleans, numbers, deep nesting).
  (fields) => fc.tuple(present(fields), fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.integer({ min: 1, max: 3_000 }).map((depth) => ({ deep: depth }))))
    .map(([name, value]) => {
      const raw = typeof value === 'object' && value !== null && 'deep' in value && typeof value.deep === 'number' ? `${'{"a":'.repeat(value.deep)}1${'}'.repeat(value.deep)}` : JSON.stringify(value);
      return Buffer.from(jsonBody({ ...fields, [name]: { raw } }));
    }),
  // A huge string, under or over the body limit.
  (fields, asForm) => fc.tuple(present(fields), fc.integer({ min: 200, max: 2 * BODY_LIMIT }), fc.constantFrom('x', 'é', '😀', '%'))
    .map(([name, length, unit]) => encode({ ...fields, [name]: unit.repeat(length) }, asForm)),
  // Invalid UTF-8 bytes spliced in.
  (fields, asForm) => { const full = encode(fields, asForm); return fc.tuple(fc.nat({ max: full.length }), fc.constantFrom([0xff], [0xc3], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xc0, 0xaf], [0xf8, 0x88, 0x80, 0x80, 0x80]))
    .map(([at, bytes]) => Buffer.concat([full.subarray(0, at), Buffer.from(bytes), full.subarray(at)])); },
  // A key twice, with the same or another value.
  (fields, asForm) => fc.tuple(present(fields), fc.string({ maxLength: 20 })).map(([name, other]) => {
    const text = asForm ? formBody(fields) : jsonBody(fields);
    const extra = asForm ? `&${encodeURIComponent(name)}=${encodeURIComponent(other)}` : `,${JSON.stringify(name)}:${JSON.stringify(other)}}`;
    return Buffer.from(asForm ? text + extra : text.slice(0, -1) + extra);
  }),
  // One character of one field changed (signature, nonce, timestamp, identity or free field).
  (fields, asForm) => fc.tuple(present(fields), fc.nat(), fc.string({ minLength: 1, maxLength: 1, unit: 'grapheme' })).map(([name, position, replacement]) => {
    const value = fields[name]!;
    const text = typeof value === 'string' ? value : value.raw;
    const at = text.length === 0 ? 0 : position % text.length;
    return encode({ ...fields, [name]: text.slice(0, at) + replacement + text.slice(at + 1) }, asForm);
  }),
  // Form oddities: malformed or overlong %-escapes, '+', empty pairs, keys without '=', latin-1 bytes.
  (fields) => fc.tuple(fc.constantFrom('%', '%zz', '%C3', '%C3%28', '%E2%82', '%00', '+', '&&', '&novalue', '=', '%25', '\u00e9'), fc.nat()).map(([odd, position]) => {
    const text = formBody(fields);
    const at = position % (text.length + 1);
    return Buffer.from(text.slice(0, at) + odd + text.slice(at), odd === '\u00e9' ? 'latin1' : 'utf8');
  }),
];

/** The body of one request: random bytes, random JSON, a random object of ZEGO-ish fields, or a mutated signed callback. */
const bodies: fc.Arbitrary<{ body: Buffer; contentType: string | undefined }> = fc.oneof(
  fc.tuple(fc.uint8Array({ maxLength: 2_000 }), contentTypes).map(([bytes, contentType]) => ({ body: Buffer.from(bytes), contentType })),
  fc.tuple(fc.json({ maxDepth: 4 }), contentTypes).map(([text, contentType]) => ({ body: Buffer.from(text), contentType })),
  fc.tuple(fc.dictionary(fc.constantFrom(...FIELD_NAMES, 'x', ''), fc.oneof(fc.string(), fc.integer().map(String), fc.jsonValue({ maxDepth: 2 }))), fc.boolean())
    .map(([record, asForm]) => ({
      body: Buffer.from(asForm ? new URLSearchParams(Object.entries(record).map(([key, value]): [string, string] => [key, typeof value === 'string' ? value : JSON.stringify(value)])).toString() : JSON.stringify(record)),
      contentType: asForm ? 'application/x-www-form-urlencoded' : 'application/json',
    })),
  // Half of all cases start from a valid signed callback: the interesting part of the space.
  { weight: 3, arbitrary: fc.tuple(signedFields, fc.boolean(), fc.nat({ max: mutations.length - 1 }), fc.nat({ max: 3 }))
    .chain(([fields, asForm, which, typeChoice]) => mutations[which]!(fields, asForm).map((body) => ({
      body,
      // Mostly the matching content type; sometimes a random one.
      contentType: typeChoice > 0 ? (asForm && which !== 3 ? 'application/x-www-form-urlencoded' : 'application/json') : undefined,
    })))
    .chain((candidate) => (candidate.contentType ? fc.constant(candidate) : contentTypes.map((contentType) => ({ ...candidate, contentType })))) },
);

/** A whole request: mostly a POST to the callback path; sometimes another method or path. */
function requests(callbackPath: string): fc.Arbitrary<Sent> {
  return fc.record({
    payload: bodies,
    method: fc.oneof({ weight: 9, arbitrary: fc.constant('POST') }, { weight: 1, arbitrary: fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS') }),
    path: fc.oneof(
      { weight: 9, arbitrary: fc.constant(callbackPath) },
      { weight: 1, arbitrary: fc.constantFrom(`${callbackPath}/`, `${callbackPath}?a=1`, '/', '/zego', '/%ff', '/zego/callback/../callback', '/healthz/x') },
    ),
    headers: extraHeaders,
    chunked: fc.boolean(),
  }).map(({ payload, method, path, headers, chunked }) => ({
    method, path, chunked, body: payload.body,
    headers: { ...headers, ...(payload.contentType === undefined ? {} : { 'content-type': payload.contentType }) },
  }));
}

async function receiver(redisUrl: string): Promise<{ config: RelayConfig; handle: ReceiverHandle }> {
  const config = testConfig({ redisUrl, server: { bodyLimit: BODY_LIMIT } });
  const handle = await startReceiver(config, { logger: silentLogger });
  redis.cleanup(() => handle.close());
  return { config, handle };
}

describe('fuzzing the receiver', () => {
  it('answers thousands of random and mutated requests without a 5xx, in the contract shape, storing only what it answered 200', async () => {
    const { config, handle } = await receiver(redis.url);
    const storedBodies = new Map<string, string>();
    const sentFormats = new Map<string, 'json' | 'form'>();
    const answered200 = new Set<string>();
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(requests(config.server.callbackPath), async (sent) => {
        const answer = await send(handle.port, sent);
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        expect(answer.status).toBeLessThan(500);
        const id = expectContractShape(answer, sent);
        if (id === undefined) return;
        answered200.add(id);
        if (!answer.json.duplicate) {
          expect(storedBodies.has(id), `${id} stored twice`).toBe(false);
          storedBodies.set(id, sent.body.toString());
          // Read by its shape, whatever the declared type: a body starting with `{` is JSON.
          sentFormats.set(id, /^\s*\{/.test(sent.body.toString()) ? 'json' : 'form');
        }
      }),
      { numRuns: 5_000 },
    );
    // Still alive and healthy after all that.
    expect((await fetch(`http://127.0.0.1:${handle.port}/healthz`)).status).toBe(200);
    // Enough of each kind that the run means something.
    expect(statuses.get(200) ?? 0).toBeGreaterThan(50);
    for (const status of [400, 401, 404, 405, 413, 415]) expect(statuses.get(status) ?? 0, `answers ${status}`).toBeGreaterThan(0);
    console.log(`fuzz answers by status: ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`);

    // Nothing stored but the 200s: one intake entry per stored callback, carrying the body that was sent.
    const inspector = new Redis(redis.url);
    redis.cleanup(async () => inspector.disconnect());
    const stored = await intakeCallbacks(inspector, config);
    expect(stored.map((callback) => callback.callbackId).sort()).toEqual([...storedBodies.keys()].sort());
    for (const callback of stored) {
      const sentBody = storedBodies.get(callback.callbackId)!;
      // A form (or URL-encoded JSON) is forwarded as JSON of its fields; JSON as the exact text.
      if (sentFormats.get(callback.callbackId) === 'json') expect(callback.body).toBe(sentBody);
      expect(() => JSON.parse(callback.body)).not.toThrow();
    }
    expect([...answered200].every((id) => storedBodies.has(id))).toBe(true);
  }, 90_000);

  it('while Redis is down: 503 unavailable within 2 s for valid callbacks, the usual 4xx for the rest, never a hang', async () => {
    const store = await startRedisServer();
    redis.cleanup(() => store.stop());
    const { config, handle } = await receiver(store.url);
    await store.kill();
    let unavailable = 0;
    await fc.assert(
      fc.asyncProperty(requests(config.server.callbackPath), async (sent) => {
        const started = Date.now();
        const answer = await send(handle.port, sent);
        expect(Date.now() - started).toBeLessThan(2_000);
        expectContractShape(answer, sent);
        expect(answer.status === 503 || answer.status < 500).toBe(true);
        if (answer.status === 503) unavailable += 1;
      }),
      { numRuns: 100 },
    );
    expect(unavailable).toBeGreaterThan(0);
  }, 60_000);
});
