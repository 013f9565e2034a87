import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { RelayConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/lib/logger.js';
import { callbacksReceived } from '../../src/shared/metrics.js';
import { createReceiverApp } from '../../src/receive/app.js';
import { startReceiver, type ReceiverHandle } from '../../src/receive/server.js';
import { startRouter } from '../../workers/route/router.js';
import { intakePendingCount } from '../../src/intake/stats.js';
import { intakeKeys, replayKey, rejectedKey, UNROUTED_QUEUE, deliveryQueueName, type DeliveryJobData } from '../../src/shared/names.js';
import { queueOptions } from '../../src/redis/queues.js';
import { listRejected } from '../../src/rejected/log.js';
import { APP_ID, SECRET, testConfig, type TestConfigOptions } from '../helpers/config.js';
import { formBody, jsonBody, mixStopFields, sign } from '../helpers/zego.js';
import { useTestRedis } from '../helpers/redis.js';

const redis = useTestRedis();

interface Receiver {
  config: RelayConfig;
  handle: ReceiverHandle;
  post(body: string, contentType?: string | null): Promise<{ status: number; body: any; headers: Headers }>;
  /** The queue `name`, once the router has routed everything the receiver stored so far. */
  routed(name: string): Promise<Queue<DeliveryJobData>>;
  keysUnderPrefix(): Promise<string[]>;
  /** Waits until BullMQ wrote its queue meta keys (at start-up, not per callback); returns the keys. */
  queuesReady(): Promise<string[]>;
}

async function receiver(options: Omit<TestConfigOptions, 'redisUrl'> = {}, now?: () => number): Promise<Receiver> {
  const config = testConfig({ redisUrl: redis.url, ...options });
  const handle = await startReceiver(config, { logger: silentLogger, ...(now ? { now } : {}) });
  redis.cleanup(() => handle.close());
  // The router stage moves what the receiver stored into the targets' queues.
  const router = startRouter(config, { logger: silentLogger });
  redis.cleanup(() => router.close());
  await router.ready();
  const url = `http://127.0.0.1:${handle.port}${config.server.callbackPath}`;
  return {
    config,
    handle,
    async post(body, contentType = 'application/json') {
      const response = await fetch(url, {
        method: 'POST',
        body,
        headers: contentType === null ? {} : { 'content-type': contentType },
      });
      return { status: response.status, body: await response.json(), headers: response.headers };
    },
    async routed(name) {
      await expect.poll(() => intakePendingCount(redis.inspector, config)).toBe(0);
      const queue = new Queue<DeliveryJobData>(name, queueOptions(config, name, redis.inspector));
      redis.cleanup(() => queue.close());
      return queue;
    },
    // Every key of the relay's but the rejected list, which a refusal is meant to write.
    keysUnderPrefix: async () => (await redis.inspector.keys(`*${config.redis.prefix}*`)).filter((key) => key !== rejectedKey(config.redis.prefix)),
    async queuesReady() {
      const deadline = Date.now() + 5_000;
      for (;;) {
        const keys = await redis.inspector.keys(`*${config.redis.prefix}*`);
        if (keys.filter((key) => key.endsWith(':meta')).length === config.targets.length + 1) return keys.sort();
        if (Date.now() > deadline) throw new Error('the queues did not start');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
}

const billing = deliveryQueueName('billing');

describe('POST callbackPath: storing', () => {
  it('stores a signed callback, answers its id, and queues one job whose body is the exact text', async () => {
    const relay = await receiver();
    const body = jsonBody(sign(mixStopFields()));
    const response = await relay.post(body);
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ ok: true, id: expect.stringMatching(/^cb_[0-9a-f]{32}$/), duplicate: false });
    const job = await (await relay.routed(billing)).getJob(response.body.id);
    expect(job?.name).toBe('mix_stop');
    expect(job?.data).toMatchObject({ callbackId: response.body.id, event: 'mix_stop', appId: APP_ID, body });
    expect(job?.opts.attempts).toBe(1); // the worker, not BullMQ, retries (workers/deliver/worker.ts)
  });

  it('answers a re-send (new nonce, timestamp, signature) with the same id, duplicate: true, and queues nothing new', async () => {
    const relay = await receiver({ targets: [{ name: 'billing', events: ['mix_*'] }, { name: 'audit', events: ['*'] }] });
    const fields = mixStopFields();
    const first = await relay.post(jsonBody(sign(fields)));
    const again = await relay.post(jsonBody(sign(fields, { timestamp: String(Math.floor(Date.now() / 1000) - 5) })));
    expect(first.body.duplicate).toBe(false);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ ok: true, id: first.body.id, duplicate: true });
    expect(await (await relay.routed(billing)).getJobCountByTypes('wait')).toBe(1);
    expect(await (await relay.routed(deliveryQueueName('audit'))).getJobCountByTypes('wait')).toBe(1);
  });

  it('refuses a replayed nonce carrying a forged body, and stores nothing of it', async () => {
    const relay = await receiver();
    const genuine = sign(mixStopFields());
    expect((await relay.post(jsonBody(genuine))).status).toBe(200);
    const forged = { ...mixStopFields({ channel_id: 'attacker' }), timestamp: genuine.timestamp!, nonce: genuine.nonce!, signature: genuine.signature! };
    const response = await relay.post(jsonBody(forged));
    expect(response.status).toBe(401);
    expect(response.body.error.code).toBe('replayed_nonce');
    expect(await (await relay.routed(billing)).getJobCountByTypes('wait')).toBe(1);
    // The genuine callback sent again with its own nonce is still just a duplicate.
    expect((await relay.post(jsonBody(genuine))).body.duplicate).toBe(true);
  });

  it('labels metrics with bounded event names, and only once the sender is authenticated', async () => {
    const relay = await receiver();
    /** The counter's value of each (event, outcome) series. */
    const series = async () =>
      new Map((await callbacksReceived.get()).values.map((value) => [`${String(value.labels.event)}/${String(value.labels.outcome)}`, value.value]));
    const before = await series();
    for (let index = 0; index < 10; index += 1) {
      const invented = { appid: '999', event: `transcode_${index}x`, stream_sid: 's', stream_seq: String(index) };
      expect((await relay.post(jsonBody(sign(invented)))).status).toBe(401);
      // A configured app, but not its secret: not authenticated either.
      const forged = { appid: APP_ID, event: `censor_${index}x`, task_id: `t${index}` };
      expect((await relay.post(jsonBody(sign(forged, { secret: 'guess' })))).status).toBe(401);
    }
    const family = sign({ appid: APP_ID, event: 'transcode_finished', task_id: 't1' });
    expect((await relay.post(jsonBody(family))).status).toBe(200);
    const after = await series();
    const added = Object.fromEntries([...after].filter(([key, value]) => value !== (before.get(key) ?? 0)).map(([key, value]) => [key, value - (before.get(key) ?? 0)]));
    // Refused senders are counted under `none` whatever event they named; only the authenticated
    // callback gets its family's label.
    expect(added).toEqual({ 'none/unknown_app': 10, 'none/bad_signature': 10, 'transcode_*/stored': 1 });
  });

  it("binds a re-send's fresh nonce too, so it cannot carry a forged body later", async () => {
    const relay = await receiver();
    const fields = mixStopFields();
    expect((await relay.post(jsonBody(sign(fields)))).status).toBe(200);
    const resend = sign(fields);
    expect((await relay.post(jsonBody(resend))).body.duplicate).toBe(true);
    const forged = { ...mixStopFields({ channel_id: 'attacker' }), timestamp: resend.timestamp!, nonce: resend.nonce!, signature: resend.signature! };
    const response = await relay.post(jsonBody(forged));
    expect(response.status).toBe(401);
    expect(response.body.error.code).toBe('replayed_nonce');
    expect(await (await relay.routed(billing)).getJobCountByTypes('wait')).toBe(1);
  });

  it('forwards a 64-bit room_session_id byte-exact and tells ...982 from ...983', async () => {
    const relay = await receiver();
    const room = (id: string) =>
      jsonBody(sign({ appid: { raw: APP_ID }, event: 'room_create', room_session_id: { raw: id }, timestamp: { raw: '0' } }, {
        timestamp: { raw: String(Math.floor(Date.now() / 1000)) },
      }));
    const text = room('6085791336856668982');
    const first = await relay.post(text);
    const second = await relay.post(room('6085791336856668983'));
    expect(first.status).toBe(200);
    expect(second.body.duplicate).toBe(false);
    expect(second.body.id).not.toBe(first.body.id);
    const job = await (await relay.routed(billing)).getJob(first.body.id);
    expect(job?.data.body).toBe(text);
    expect(job?.data.body).toContain('"room_session_id":6085791336856668982');
  });

  it('accepts a form body, forwards its decoded fields as JSON, and gives the JSON version the same id', async () => {
    const relay = await receiver();
    const fields = mixStopFields({ mix_url: 'rtmp://h/a b&c=d' });
    const form = await relay.post(formBody(sign(fields)), 'application/x-www-form-urlencoded');
    expect(form.status).toBe(200);
    const job = await (await relay.routed(billing)).getJob(form.body.id);
    expect(JSON.parse(job!.data.body)).toMatchObject({ ...fields, mix_url: 'rtmp://h/a b&c=d' });
    const json = await relay.post(jsonBody(sign(fields)), 'application/json; charset=utf-8');
    expect(json.body).toEqual({ ok: true, id: form.body.id, duplicate: true });
  });

  it('accepts PascalCase common fields', async () => {
    const relay = await receiver();
    const { appid, event, ...rest } = mixStopFields();
    const response = await relay.post(jsonBody(sign({ AppId: appid!, Event: event!, ...rest }, { pascalCase: true })));
    expect(response.status).toBe(200);
    expect((await (await relay.routed(billing)).getJob(response.body.id))?.data.appId).toBe(APP_ID);
  });

  it('accepts every secret of the app (rotation)', async () => {
    const relay = await receiver({ zego: { apps: [{ appId: APP_ID, callbackSecrets: ['old-secret', SECRET] }] } });
    expect((await relay.post(jsonBody(sign(mixStopFields(), { secret: 'old-secret' })))).status).toBe(200);
    expect((await relay.post(jsonBody(sign(mixStopFields(), { secret: SECRET })))).status).toBe(200);
  });

  it('keeps a callback no target wants in the unrouted queue', async () => {
    const relay = await receiver({ targets: [{ name: 'billing', events: ['mix_stop'] }] });
    const response = await relay.post(jsonBody(sign({ appid: APP_ID, event: 'stream_create', stream_sid: 's1', stream_seq: '1' })));
    expect(response.status).toBe(200);
    expect((await (await relay.routed(UNROUTED_QUEUE)).getJob(response.body.id))?.name).toBe('stream_create');
    expect(await (await relay.routed(billing)).getJobCountByTypes('wait')).toBe(0);
  });

  it('remembers a callback for the dedupe window and binds a nonce for 2 x tolerance + 60 s', async () => {
    const relay = await receiver({ zego: { apps: [{ appId: APP_ID, callbackSecrets: [SECRET] }], dedupeWindow: '2h', timestampToleranceSeconds: 100 } });
    const signed = sign(mixStopFields());
    const response = await relay.post(jsonBody(signed));
    const keys = intakeKeys(relay.config.redis.prefix, 0);
    const seenTtl = await redis.inspector.ttl(keys.seen(response.body.id));
    expect(seenTtl).toBeGreaterThan(7_190);
    expect(seenTtl).toBeLessThanOrEqual(7_200);
    const nonceTtl = await redis.inspector.ttl(replayKey(relay.config.redis.prefix, signed.signature as string));
    expect(nonceTtl).toBeGreaterThan(250);
    expect(nonceTtl).toBeLessThanOrEqual(260);
  });
});

describe('POST callbackPath: every rejection of the status table', () => {
  const cases: [string, () => { body: string; contentType?: string | null }, number, string][] = [
    ['a body that is not JSON', () => ({ body: '{"appid": ' }), 400, 'invalid_body'],
    ['URL-encoded JSON that does not parse', () => ({ body: encodeURIComponent('{"appid": ') }), 400, 'invalid_body'],
    ['a JSON array', () => ({ body: '[1,2,3]' }), 400, 'invalid_payload'],
    ['a JSON string', () => ({ body: '"x"' }), 400, 'invalid_payload'],
    ['a JSON number', () => ({ body: '42' }), 400, 'invalid_payload'],
    ['an empty body', () => ({ body: '' }), 400, 'invalid_payload'],
    ['a form without the common fields', () => ({ body: 'hello', contentType: 'text/plain' }), 400, 'invalid_payload'],
    ['a form with a malformed escape', () => ({ body: 'appid=%E0%A4%A', contentType: 'application/x-www-form-urlencoded' }), 400, 'invalid_body'],
    ['a missing appid', () => ({ body: jsonBody(sign(omit(mixStopFields(), 'appid'))) }), 400, 'invalid_payload'],
    ['an empty nonce', () => ({ body: jsonBody(sign(mixStopFields(), { nonce: '' })) }), 400, 'invalid_payload'],
    ['a timestamp that is not digits', () => ({ body: jsonBody(sign(mixStopFields(), { timestamp: 'yesterday' })) }), 400, 'invalid_payload'],
    ['an object as task_id', () => ({ body: jsonBody(sign(mixStopFields({ task_id: { raw: '{"a":1}' } }))) }), 400, 'invalid_payload'],
    ['mix_stop without seq', () => ({ body: jsonBody(sign(omit(mixStopFields(), 'seq'))) }), 400, 'invalid_payload'],
    ['mix_start without task_id', () => ({ body: jsonBody(sign(omit(mixStopFields({ event: 'mix_start' }), 'task_id'))) }), 400, 'invalid_payload'],
    ['a channel_id over 255 bytes', () => ({ body: jsonBody(sign(mixStopFields({ channel_id: 'é'.repeat(128) }))) }), 400, 'invalid_payload'],
    ['a repeated scalar form field', () => ({ body: `${formBody(sign(mixStopFields()))}&seq=2`, contentType: 'application/x-www-form-urlencoded' }), 400, 'invalid_payload'],
    ['a repeated JSON key', () => ({ body: jsonBody(sign(mixStopFields())).replace('{', '{"seq":"9",') }), 400, 'invalid_payload'],
    ['both appid and AppId', () => ({ body: jsonBody(sign({ ...mixStopFields(), AppId: '222' })) }), 400, 'invalid_payload'],
    ['both appid and APPID', () => ({ body: jsonBody(sign({ ...mixStopFields(), APPID: '222' })) }), 400, 'invalid_payload'],
    ['nonce and Nonce in a form', () => ({ body: `${formBody(sign(mixStopFields()))}&Nonce=2`, contentType: 'application/x-www-form-urlencoded' }), 400, 'invalid_payload'],
    ['a zero-padded timestamp', () => ({ body: jsonBody(sign(mixStopFields(), { timestamp: `0${Math.floor(Date.now() / 1000)}` })) }), 400, 'invalid_payload'],
    ['an app that is not configured', () => ({ body: jsonBody(sign(mixStopFields({ appid: '999' }))) }), 401, 'unknown_app'],
    ['a signature by another secret', () => ({ body: jsonBody(sign(mixStopFields(), { secret: 'guess' })) }), 401, 'bad_signature'],
    ['a signature over another nonce', () => ({ body: jsonBody({ ...sign(mixStopFields()), nonce: '1' }) }), 401, 'bad_signature'],
    ['application/xml', () => ({ body: jsonBody(sign(mixStopFields())), contentType: 'application/xml' }), 415, 'unsupported_media_type'],
    ['multipart/form-data', () => ({ body: jsonBody(sign(mixStopFields())), contentType: 'multipart/form-data; boundary=x' }), 415, 'unsupported_media_type'],
    ['a body over server.bodyLimit', () => ({ body: jsonBody(sign(mixStopFields({ padding: 'x'.repeat(3000) }))) }), 413, 'payload_too_large'],
  ];

  it.each(cases.map(([name, build, status, code]) => ({ name, build, status, code })))(
    'answers $name with $status $code, stores nothing of it, and keeps a sample', async ({ build, status, code }) => {
    const relay = await receiver({ server: { bodyLimit: 2048 } });
    const keysBefore = await relay.queuesReady();
    const { body, contentType } = build();
    const response = await relay.post(body, contentType);
    expect(response.status).toBe(status);
    expect(response.body).toEqual({ ok: false, error: { code, message: expect.any(String) } });
    expect((await relay.keysUnderPrefix()).sort()).toEqual(keysBefore);
    await expect.poll(() => listRejected(redis.inspector, relay.config.redis.prefix, 10)).toEqual([
      expect.objectContaining({ status, code, contentType: contentType === undefined ? 'application/json' : contentType }),
    ]);
  });

  it.each([
    ['URL-encoded by encodeURI (its colons raw)', (fields: Record<string, unknown>) => encodeURI(JSON.stringify(fields))],
    ['with an escaped key', (fields: Record<string, unknown>) => JSON.stringify(fields).replace('"signature"', '"sign\\u0061ture"')],
    ['as a form with a percent-encoded key and value', (fields: Record<string, unknown>) =>
      formBody(fields as Record<string, string>).replace('signature=', 'sig%6eature=').replace(/=([0-9a-f]{40})/, (_all, hex: string) => `=${hex.replace(/./g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`)],
  ])('keeps a refused callback\'s signature out of its sample when it comes %s', async (_name, encode) => {
    const relay = await receiver();
    // A genuine triple on a body refused before the signature is bound: still usable until stale.
    const fields = sign(omit(mixStopFields(), 'seq'));
    const response = await relay.post(encode(fields as Record<string, unknown>), 'application/x-www-form-urlencoded');
    expect(response.body.error.code).toBe('invalid_payload');
    await expect.poll(() => listRejected(redis.inspector, relay.config.redis.prefix, 1)).toHaveLength(1);
    const [sample] = await listRejected(redis.inspector, relay.config.redis.prefix, 1);
    const signature = fields.signature as string;
    expect(sample!.body).toContain('***');
    for (const text of [sample!.body, decodeURIComponent(sample!.body)]) expect(text.toLowerCase()).not.toContain(signature.slice(0, 8));
  });

  it('refuses invalid UTF-8 as invalid_body', async () => {
    const relay = await receiver();
    const bytes = Buffer.concat([Buffer.from('{"appid":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    const response = await fetch(`http://127.0.0.1:${relay.handle.port}/zego/callback`, {
      method: 'POST',
      body: bytes,
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as any).error.code).toBe('invalid_body');
  });

  it('refuses unknown events only when allowUnknownEvents is false (as invalid_payload)', async () => {
    const strict = await receiver({ zego: { apps: [{ appId: APP_ID, callbackSecrets: [SECRET] }], allowUnknownEvents: false } });
    const custom = () => jsonBody(sign({ appid: APP_ID, event: 'brand_new_event', x: '1' }));
    expect((await strict.post(custom())).body.error.code).toBe('invalid_payload');
    expect((await strict.post(jsonBody(sign({ appid: APP_ID, event: 'snapshot', pic: 'u' })))).status).toBe(200);
    const lenient = await receiver();
    expect((await lenient.post(custom())).status).toBe(200);
  });

  it('refuses a timestamp beyond the tolerance in both directions, and accepts one at the edge', async () => {
    const nowSeconds = 1_700_000_000;
    const relay = await receiver(
      { zego: { apps: [{ appId: APP_ID, callbackSecrets: [SECRET] }], timestampToleranceSeconds: 300 } },
      () => nowSeconds * 1000,
    );
    const at = (seconds: number) => relay.post(jsonBody(sign(mixStopFields(), { timestamp: String(seconds) })));
    expect((await at(nowSeconds - 301)).body.error.code).toBe('stale_timestamp');
    expect((await at(nowSeconds + 301)).body.error.code).toBe('stale_timestamp');
    expect((await at(nowSeconds - 300)).status).toBe(200);
    expect((await at(nowSeconds + 300)).status).toBe(200);
  });
});

describe('other paths and methods', () => {
  it('answers 404 not_found elsewhere and 405 with Allow: POST for other methods on the callback path', async () => {
    const relay = await receiver();
    const base = `http://127.0.0.1:${relay.handle.port}`;
    const missing = await fetch(`${base}/elsewhere`, { method: 'POST' });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ ok: false, error: { code: 'not_found', message: expect.any(String) } });
    const wrongMethod = await fetch(`${base}/zego/callback`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('POST');
    expect(((await wrongMethod.json()) as any).error.code).toBe('method_not_allowed');
  });

  it('answers /healthz and /readyz', async () => {
    const relay = await receiver();
    const base = `http://127.0.0.1:${relay.handle.port}`;
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ ok: true });
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
  });

  it('answers an unexpected error with 500 and a generic message', async () => {
    const config = testConfig({ redisUrl: redis.url });
    const readiness = new Redis(redis.url);
    redis.cleanup(async () => readiness.disconnect());
    const store = { store: async () => { throw new TypeError('secret internals'); } };
    const app = createReceiverApp({ config, store, redis: readiness, logger: silentLogger });
    const { createServer } = await import('node:http');
    const server = createServer(app.callback()).listen(0, '127.0.0.1');
    redis.cleanup(() => new Promise((resolve) => server.close(resolve)));
    await new Promise((resolve) => server.once('listening', resolve));
    const port = (server.address() as import('node:net').AddressInfo).port;
    const response = await fetch(`http://127.0.0.1:${port}/zego/callback`, {
      method: 'POST',
      body: jsonBody(sign(mixStopFields())),
      headers: { 'content-type': 'application/json' },
    });
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ ok: false, error: { code: 'internal_error', message: 'internal error' } });
  });
});

function omit<T extends Record<string, unknown>>(object: T, key: string): T {
  const { [key]: _removed, ...rest } = object;
  return rest as T;
}
