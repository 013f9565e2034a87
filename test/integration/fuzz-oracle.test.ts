/**
 * A fuzz test that checks what the answers mean, not only their shape. Each run starts from a
 * valid signed callback (stored: 200, a fresh id), changes one thing and posts the result to a
 * real receiver on a real Redis:
 *   - timestamp, nonce, signature or appid changed: never 200, each refused with its own code,
 *     unless it is ZEGO's legitimate re-send (fresh timestamp and nonce, signed with the app's
 *     secret), which is a duplicate with the same id;
 *   - an identity field changed or dropped: with the captured (timestamp, nonce, signature) it is
 *     replayed_nonce; freshly signed it is a new callback with a different id;
 *   - a re-send's own fresh triple is bound too: on a forged body it is replayed_nonce, on the
 *     re-sent body again a duplicate;
 *   - anything else changed (another field, a new field, the spacing and key order, the encoding):
 *     the same callback, so a duplicate with the same id, whichever triple it comes with.
 * At the end the intake holds exactly the bodies that were answered 200 and not duplicate.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/lib/logger.js';
import { startReceiver, type ReceiverHandle } from '../../src/receive/server.js';
import { intakeCallbacks } from '../helpers/intake.js';
import { useTestRedis } from '../helpers/redis.js';
import { APP_ID, SECRET, testConfig } from '../helpers/config.js';
import { formBody, jsonBody, sign, type Fields, type Raw } from '../helpers/zego.js';

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
  /** Identity fields the event is refused without (400 invalid_payload), as ZEGO documents them. */
  required?: readonly string[];
  /** A fresh callback, unique by `unique` even without any one of its identity fields. */
  fields: (unique: string) => Fields;
}

const KINDS: readonly Kind[] = [
  {
    event: 'mix_stop',
    identity: ['task_id', 'seq'],
    required: ['task_id', 'seq'],
    fields: (unique) => ({ appid: APP_ID, event: 'mix_stop', task_id: `task-${unique}`, seq: '7', channel_id: 'room-1', mix_url: 'rtmp://h/a' }),
  },
  {
    event: 'room_create',
    identity: ['room_session_id'],
    // A bare 64-bit number: its digits, not a rounded JS number, identify it.
    fields: (unique) => ({ appid: APP_ID, event: 'room_create', room_session_id: { raw: `60857913368${BigInt(`0x${unique.slice(0, 7)}`)}` }, room_id: `r-${unique}` }),
  },
  {
    event: 'stream_create',
    identity: ['stream_sid', 'stream_seq'],
    fields: (unique) => ({ appid: APP_ID, event: 'stream_create', stream_sid: `sid-${unique}`, stream_seq: '3', stream_alias: `s-${unique}` }),
  },
  {
    // Not in ZEGO's table: identified by every field but the per-send ones.
    event: 'custom_report',
    identity: ['note', 'count', 'report_id'],
    fields: (unique) => ({ appid: APP_ID, event: 'custom_report', note: `n-${unique}`, count: { raw: '12' }, report_id: unique }),
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
  | { kind: 'drop-identity'; which: number }
  | { kind: 'resend-triple'; skewSeconds: number; which: number; suffix: string }
  | { kind: 'other-field'; name: string; value: string }
  | { kind: 'reformat' };

/** Non-empty, at most 255 bytes, any printable text: a valid value of a string field. */
const fieldText = fc.string({ minLength: 1, maxLength: 40 });
/** Appended to an identity field's value: another callback. */
const identitySuffix = fc.string({ minLength: 1, maxLength: 8, unit: fc.constantFrom(...'0123456789abc') });
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
  { weight: 2, arbitrary: fc.tuple(fc.nat(), identitySuffix).map(([which, suffix]) => ({ kind: 'identity' as const, which, suffix })) },
  fc.nat().map((which) => ({ kind: 'drop-identity' as const, which })),
  fc.tuple(fc.integer({ min: -60, max: 60 }), fc.nat(), identitySuffix)
    .map(([skewSeconds, which, suffix]) => ({ kind: 'resend-triple' as const, skewSeconds, which, suffix })),
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

/** `fields` with the identity field number `which` (of the kind's) given another value. */
function withChangedIdentity(kind: Kind, fields: Fields, which: number, suffix: string): Fields {
  const name = kind.identity[which % kind.identity.length]!;
  const value = fields[name]!;
  return { ...fields, [name]: typeof value === 'string' ? `${value}${suffix}` : { raw: `${value.raw}${suffix.replace(/\D/g, '') || '1'}` } };
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
      const changed = withChangedIdentity(kind, unsigned, change.which, change.suffix);
      // With the captured triple: a forged callback riding on a genuine signature.
      expectRefused(await post(withTriple(changed, original), encoding), 'replayed_nonce');
      // Freshly signed: another callback.
      const again = resend(changed);
      const newId = expectStored(await post(again, encoding), encoding === 'json' ? jsonBody(again) : '');
      expect(newId).not.toBe(id);
      return;
    }
    case 'drop-identity': {
      const name = kind.identity[change.which % kind.identity.length]!;
      const { [name]: _dropped, ...dropped } = unsigned;
      if (kind.required?.includes(name)) {
        // Refused before anything is bound or stored, with either triple; the original is untouched.
        for (const body of [withTriple(dropped, original), resend(dropped)]) {
          const answer = await post(body, encoding);
          expect(answer, JSON.stringify(answer.body)).toMatchObject({ status: 400, body: { ok: false, error: { code: 'invalid_payload' } } });
        }
        return expectDuplicateOf(await post(original, encoding), id);
      }
      // Without one of its identity fields the callback is identified by its whole body: another one.
      expectRefused(await post(withTriple(dropped, original), encoding), 'replayed_nonce');
      const again = resend(dropped);
      const newId = expectStored(await post(again, encoding), encoding === 'json' ? jsonBody(again) : '');
      expect(newId).not.toBe(id);
      return;
    }
    case 'resend-triple': {
      // ZEGO's re-send is a duplicate, and its fresh triple is bound to this callback as well:
      // left unbound, it could carry a forged body (the signature covers no body field).
      const again = resend(unsigned, SECRET, change.skewSeconds);
      expectDuplicateOf(await post(again, encoding), id);
      const forged = withChangedIdentity(kind, unsigned, change.which, change.suffix);
      expectRefused(await post(withTriple(forged, again), encoding), 'replayed_nonce');
      return expectDuplicateOf(await post(again, encoding === 'json' ? 'form' : 'json'), id);
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
    for (const kind of ['exact-retry', 'resend', 'timestamp', 'stale-timestamp', 'nonce', 'signature', 'appid', 'identity', 'drop-identity', 'resend-triple', 'other-field', 'reformat']) {
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
