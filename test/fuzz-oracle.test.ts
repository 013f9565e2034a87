/**
 * A fuzz test that checks what the answers mean, not only their shape. Each run starts from a
 * valid signed callback (stored: 200, a fresh id), changes one thing and posts the result to a
 * real receiver on a real Redis:
 *   - timestamp, nonce, signature or appid changed: never 200, each refused with its own code,
 *     unless it is ZEGO's legitimate re-send (fresh timestamp and nonce, signed with the app's
 *     secret), which is a duplicate with the same id;
 *   - an identity field changed: with the captured (timestamp, nonce, signature) it is
 *     replayed_nonce; freshly signed it is a new callback with a different id;
 *   - anything else changed (another field, a new field, the spacing and key order, the encoding):
 *     the same callback, so a duplicate with the same id, whichever triple it comes with.
 * At the end the intake holds exactly the bodies that were answered 200 and not duplicate.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayConfig } from '../src/config/load.js';
import { silentLogger } from '../src/lib/logger.js';
import { startReceiver, type ReceiverHandle } from '../src/receive/server.js';
import { intakeCallbacks } from './helpers/intake.js';
import { useTestRedis } from './helpers/redis.js';
import { APP_ID, SECRET, testConfig } from './helpers/config.js';
import { formBody, jsonBody, sign, type Fields, type Raw } from './helpers/zego.js';

const TOLERANCE_SECONDS = 300;
/** Configured with the same secret as APP_ID: a captured triple passes its signature check. */
const TWIN_APP_ID = '222222';
/** Configured with a secret of its own. */
const OTHER_APP_ID = '333333';
const OTHER_SECRET = 'other-callback-secret';

const redis = useTestRedis();
let config: RelayConfig;
let receiver: ReceiverHandle;

beforeAll(async () => {
  config = testConfig({
    redisUrl: redis.url,
    zego: {
      apps: [
        { appId: APP_ID, callbackSecrets: [SECRET] },
        { appId: TWIN_APP_ID, callbackSecrets: [SECRET] },
        { appId: OTHER_APP_ID, callbackSecrets: [OTHER_SECRET] },
      ],
      timestampToleranceSeconds: TOLERANCE_SECONDS,
    },
  });
  receiver = await startReceiver(config, { logger: silentLogger });
});
afterAll(async () => {
  await receiver?.close();
});

type Encoding = 'json' | 'form';

interface Answer {
  status: number;
  body: { ok: boolean; id?: string; duplicate?: boolean; error?: { code: string } };
}

async function post(fields: Fields, encoding: Encoding): Promise<Answer> {
  const response = await fetch(`http://127.0.0.1:${receiver.port}${config.server.callbackPath}`, {
    method: 'POST',
    body: encoding === 'json' ? jsonBody(fields) : formBody(fields),
    headers: { 'content-type': encoding === 'json' ? 'application/json' : 'application/x-www-form-urlencoded' },
  });
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}

const text = (value: string | Raw) => (typeof value === 'string' ? value : value.raw);

// ---- the callbacks ----------------------------------------------------------------------------

/** An event, the fields that identify it, and a fresh unsigned callback of it. */
interface Kind {
  event: string;
  identity: readonly string[];
  fields: (unique: string) => Fields;
}

const KINDS: readonly Kind[] = [
  {
    event: 'mix_stop',
    identity: ['task_id', 'seq'],
    fields: (unique) => ({ appid: APP_ID, event: 'mix_stop', task_id: `task-${unique}`, seq: '7', channel_id: 'room-1', mix_url: 'rtmp://h/a' }),
  },
  {
    event: 'room_create',
    identity: ['room_session_id'],
    // A bare 64-bit number: its digits, not a rounded JS number, identify it.
    fields: (unique) => ({ appid: APP_ID, event: 'room_create', room_session_id: { raw: `60857913368${BigInt(`0x${unique.slice(0, 7)}`)}` }, room_id: 'r1' }),
  },
  {
    event: 'stream_create',
    identity: ['stream_sid', 'stream_seq'],
    fields: (unique) => ({ appid: APP_ID, event: 'stream_create', stream_sid: `sid-${unique}`, stream_seq: '3', stream_alias: 's1' }),
  },
  {
    // Not in ZEGO's table: identified by every field but the per-send ones.
    event: 'custom_report',
    identity: ['note', 'count'],
    fields: (unique) => ({ appid: APP_ID, event: 'custom_report', note: `n-${unique}`, count: { raw: '12' } }),
  },
];

const nowSeconds = () => Math.floor(Date.now() / 1000);
/** A nonce as ZEGO sends one (digits), different on every call. */
const freshNonce = () => `${Date.now()}${Math.floor(Math.random() * 1e9)}`;

/** The signed fields' (timestamp, nonce, signature), to put on a changed body. */
function tripleOf(signed: Fields): Fields {
  return { timestamp: signed.timestamp!, nonce: signed.nonce!, signature: signed.signature! };
}

function withoutTriple(fields: Fields): Fields {
  const { timestamp: _t, nonce: _n, signature: _s, ...rest } = fields;
  return rest;
}

/** `fields` with the triple of `signed`, in the order ZEGO writes them (last). */
function withTriple(fields: Fields, signed: Fields): Fields {
  return { ...withoutTriple(fields), ...tripleOf(signed) };
}

/** ZEGO's re-send of `fields`: a new timestamp (within the tolerance) and nonce, signed again. */
function resend(fields: Fields, secret = SECRET, skewSeconds = 0): Fields {
  return sign(fields, { secret, nonce: freshNonce(), timestamp: String(nowSeconds() + skewSeconds) });
}

// ---- the changes ------------------------------------------------------------------------------

type Change =
  | { kind: 'exact-retry' }
  | { kind: 'resend'; skewSeconds: number }
  | { kind: 'timestamp'; shiftSeconds: number }
  | { kind: 'stale-timestamp'; shiftSeconds: number }
  | { kind: 'nonce'; nonce: string }
  | { kind: 'signature'; signature: string }
  | { kind: 'appid'; appId: string }
  | { kind: 'identity'; which: number; suffix: string }
  | { kind: 'other-field'; name: string; value: string }
  | { kind: 'reformat' };

/** Non-empty, at most 255 bytes, any printable text: a valid value of a string field. */
const fieldText = fc.string({ minLength: 1, maxLength: 40 });
const nonZeroShift = (max: number) => fc.integer({ min: 1, max }).chain((size) => fc.constantFrom(size, -size));

const changes: fc.Arbitrary<Change> = fc.oneof(
  fc.constant({ kind: 'exact-retry' as const }),
  fc.integer({ min: -60, max: 60 }).map((skewSeconds) => ({ kind: 'resend' as const, skewSeconds })),
  nonZeroShift(TOLERANCE_SECONDS - 60).map((shiftSeconds) => ({ kind: 'timestamp' as const, shiftSeconds })),
  fc.integer({ min: TOLERANCE_SECONDS + 5, max: 10_000_000 }).chain((size) => fc.constantFrom(size, -size))
    .map((shiftSeconds) => ({ kind: 'stale-timestamp' as const, shiftSeconds })),
  fc.oneof(fieldText, fc.bigInt({ min: 0n, max: 2n ** 64n }).map(String)).map((nonce) => ({ kind: 'nonce' as const, nonce })),
  fc.oneof(fieldText, fc.stringMatching(/^[0-9a-fA-F]{40}$/)).map((signature) => ({ kind: 'signature' as const, signature })),
  fc.oneof(fc.constantFrom(TWIN_APP_ID, OTHER_APP_ID, '999999', `${APP_ID}0`), fc.bigInt({ min: 1n, max: 10n ** 20n - 1n }).map(String))
    .map((appId) => ({ kind: 'appid' as const, appId })),
  { weight: 2, arbitrary: fc.tuple(fc.nat(), fc.string({ minLength: 1, maxLength: 8, unit: fc.constantFrom(...'0123456789abc') }))
    .map(([which, suffix]) => ({ kind: 'identity' as const, which, suffix })) },
  fc.tuple(fc.constantFrom('channel_id', 'mix_url', 'room_id', 'stream_alias', 'extra', 'Extra_Field'), fieldText)
    .map(([name, value]) => ({ kind: 'other-field' as const, name, value })),
  fc.constant({ kind: 'reformat' as const }),
);

/** The same JSON object with keys reversed and spaces around every token: still the same callback. */
function reformatted(fields: Fields): string {
  const members = Object.entries(fields).reverse()
    .map(([key, value]) => ` ${JSON.stringify(key)} :\t${typeof value === 'string' ? JSON.stringify(value) : value.raw} `);
  return `\n{${members.join(',')}}\n`;
}

// ---- the oracle -------------------------------------------------------------------------------

/** What was stored, to compare with the intake at the end: id -> body. */
const stored = new Map<string, string>();

function expectStored(answer: Answer, body: string): string {
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  expect(answer.body.duplicate).toBe(false);
  const id = answer.body.id!;
  expect(stored.has(id), `${id} answered as new twice`).toBe(false);
  stored.set(id, body);
  return id;
}

function expectDuplicateOf(answer: Answer, id: string): void {
  expect(answer, JSON.stringify(answer.body)).toEqual({ status: 200, body: { ok: true, id, duplicate: true } });
}

function expectRefused(answer: Answer, code: string): void {
  expect(answer, JSON.stringify(answer.body)).toEqual({ status: 401, body: { ok: false, error: { code, message: expect.any(String) } } });
}

/** The code a captured triple gets when moved to another appid. */
function codeForApp(appId: string): string {
  if (appId === TWIN_APP_ID) return 'replayed_nonce'; // the signature passes; the nonce is bound to the original
  if (appId === OTHER_APP_ID) return 'bad_signature';
  return 'unknown_app';
}

async function checkChange(kind: Kind, original: Fields, id: string, change: Change, encoding: Encoding): Promise<void> {
  const unsigned = withoutTriple(original);
  switch (change.kind) {
    case 'exact-retry':
      return expectDuplicateOf(await post(original, encoding), id);
    case 'resend':
      return expectDuplicateOf(await post(resend(unsigned, SECRET, change.skewSeconds), encoding), id);
    case 'timestamp': {
      // Within the tolerance, so only the signature (over the timestamp's text) can refuse it.
      const timestamp = String(Number(text(original.timestamp!)) + change.shiftSeconds);
      return expectRefused(await post({ ...original, timestamp }, encoding), 'bad_signature');
    }
    case 'stale-timestamp':
      return expectRefused(await post(resend(unsigned, SECRET, change.shiftSeconds), encoding), 'stale_timestamp');
    case 'nonce':
      fc.pre(change.nonce !== text(original.nonce!));
      return expectRefused(await post({ ...original, nonce: change.nonce }, encoding), 'bad_signature');
    case 'signature':
      fc.pre(change.signature.toLowerCase() !== text(original.signature!));
      return expectRefused(await post({ ...original, signature: change.signature }, encoding), 'bad_signature');
    case 'appid':
      fc.pre(change.appId !== APP_ID);
      return expectRefused(await post({ ...original, appid: change.appId }, encoding), codeForApp(change.appId));
    case 'identity': {
      const name = kind.identity[change.which % kind.identity.length]!;
      const value = original[name]!;
      const changed = { ...unsigned, [name]: typeof value === 'string' ? `${value}${change.suffix}` : { raw: `${value.raw}${change.suffix.replace(/\D/g, '') || '1'}` } };
      // With the captured triple: a forged callback riding on a genuine signature.
      expectRefused(await post(withTriple(changed, original), encoding), 'replayed_nonce');
      // Freshly signed: another callback.
      const again = resend(changed);
      const newId = expectStored(await post(again, encoding), encoding === 'json' ? jsonBody(again) : '');
      expect(newId).not.toBe(id);
      return;
    }
    case 'other-field': {
      fc.pre(!kind.identity.includes(change.name) && text(unsigned[change.name] ?? '') !== change.value);
      const changed = { ...unsigned, [change.name]: change.value };
      // Not an identity field: still the same callback, with either triple; nothing new is stored.
      if (kind.event === 'custom_report') {
        // ...except for an event identified by its whole body, where every field is identity.
        return expectRefused(await post(withTriple(changed, original), encoding), 'replayed_nonce');
      }
      expectDuplicateOf(await post(withTriple(changed, original), encoding), id);
      return expectDuplicateOf(await post(resend(changed), encoding), id);
    }
    case 'reformat': {
      const response = await fetch(`http://127.0.0.1:${receiver.port}${config.server.callbackPath}`, {
        method: 'POST', body: reformatted(original), headers: { 'content-type': 'application/json' },
      });
      return expectDuplicateOf({ status: response.status, body: (await response.json()) as Answer['body'] }, id);
    }
  }
}

describe('fuzzing the meaning of the answers', () => {
  it('refuses every changed (timestamp, nonce, signature, appid), re-identifies changed identity fields, and stores nothing twice', async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...KINDS), fc.constantFrom<Encoding>('json', 'form'), fc.constantFrom<Encoding>('json', 'form'), changes,
        async (kind, firstEncoding, secondEncoding, change) => {
          // Not generated: a shrinking run repeats its inputs, and each run needs a callback never sent before.
          const unique = randomUUID().replace(/-/g, '');
          const original = sign(kind.fields(unique), { nonce: freshNonce() });
          const body = firstEncoding === 'json' ? jsonBody(original) : '';
          const id = expectStored(await post(original, firstEncoding), body);
          await checkChange(kind, original, id, change, secondEncoding);
          seen.set(change.kind, (seen.get(change.kind) ?? 0) + 1);
        },
      ),
      { numRuns: 250 },
    );
    // Every kind of change was tried, often enough to mean something.
    for (const kind of ['exact-retry', 'resend', 'timestamp', 'stale-timestamp', 'nonce', 'signature', 'appid', 'identity', 'other-field', 'reformat']) {
      expect(seen.get(kind) ?? 0, kind).toBeGreaterThan(5);
    }
    // The intake holds exactly what was answered as new, each JSON body byte for byte.
    const inspector = new Redis(redis.url);
    redis.cleanup(async () => inspector.disconnect());
    const intake = await intakeCallbacks(inspector, config);
    expect(intake.map((callback) => callback.callbackId).sort()).toEqual([...stored.keys()].sort());
    for (const callback of intake) {
      const body = stored.get(callback.callbackId);
      if (body) expect(callback.body).toBe(body);
    }
  }, 60_000);
});
