/**
 * Every shape ZEGO may send, end to end on 127.0.0.1: a signed callback posted to a real receiver,
 * delivered by the real workers to a real target, whatever the body's encoding and declared type.
 * Then re-sends in another encoding, and bad bodies that must still fail and show in the rejected list.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayConfig } from '../../src/config/load.js';
import { startAdmin, type AdminHandle } from '../../src/admin/listener.js';
import { silentLogger } from '../../src/lib/logger.js';
import { startReceiver, type ReceiverHandle } from '../../src/receive/server.js';
import { startWorkers, type WorkersHandle } from '../../workers/role.js';
import { useTestRedis } from '../helpers/redis.js';
import { APP_ID, SECRET, testConfig } from '../helpers/config.js';
import { startTargetServer, type TargetServer } from '../helpers/targets.js';
import { formBody, jsonBody, mixStopFields, sign, type Fields } from '../helpers/zego.js';

const redis = useTestRedis();
const PASSWORD = 'correct horse battery staple';

let config: RelayConfig;
let target: TargetServer;
let receiver: ReceiverHandle;
let workers: WorkersHandle;
let admin: AdminHandle;

beforeAll(async () => {
  target = await startTargetServer();
  config = testConfig({ redisUrl: redis.url, targetUrl: target.url, adminPassword: PASSWORD });
  receiver = await startReceiver(config, { logger: silentLogger });
  workers = await startWorkers(config, { logger: silentLogger });
  admin = await startAdmin(config, { logger: silentLogger });
});
afterAll(async () => {
  await admin?.close();
  await workers?.close();
  await receiver?.close();
  await target?.close();
});

/** A signed mix_stop of the test app. */
const signed = (overrides: Fields = {}, nonce?: string) =>
  sign(mixStopFields({ appid: APP_ID, ...overrides }), { secret: SECRET, ...(nonce ? { nonce } : {}) });

async function post(body: string, contentType: string | null): Promise<{ status: number; body: any }> {
  const response = await fetch(`http://127.0.0.1:${receiver.port}${config.server.callbackPath}`, {
    method: 'POST',
    body,
    headers: contentType === null ? {} : { 'content-type': contentType },
  });
  return { status: response.status, body: await response.json() };
}

/** The JSON the target received for callback `id` (by its webhook-id header). */
async function deliveredFor(id: string): Promise<{ text: string; json: Record<string, unknown> }> {
  await expect.poll(() => target.requests.some((request) => request.headers['webhook-id'] === id), { timeout: 10_000 }).toBe(true);
  const text = target.requests.find((request) => request.headers['webhook-id'] === id)!.body.toString('utf8');
  return { text, json: JSON.parse(text) as Record<string, unknown> };
}

const FORM = 'application/x-www-form-urlencoded';

describe("every row of the issue's table is accepted and delivered as JSON with the same values", () => {
  it('JSON declared as a form', async () => {
    const fields = signed();
    const body = jsonBody(fields);
    const response = await post(body, FORM);
    expect(response.status).toBe(200);
    const delivered = await deliveredFor(response.body.id);
    expect(delivered.text).toBe(body);
    expect(delivered.json).toEqual(fields);
  });

  it.each([
    ['declared JSON', 'application/json'],
    ['declared a form', FORM],
  ])('URL-encoded JSON (%s), forwarded as the decoded JSON text', async (_name, contentType) => {
    const fields = signed({ mix_url: 'rtmp://h/a b&c=d' });
    const json = jsonBody(fields);
    const response = await post(encodeURIComponent(json), contentType);
    expect(response.status).toBe(200);
    const delivered = await deliveredFor(response.body.id);
    expect(delivered.text).toBe(json);
    expect(delivered.json).toEqual(fields);
  });

  it.each([
    ['text/plain', 'text/plain'],
    ['application/octet-stream', 'application/octet-stream'],
    ['no content type', null],
    ['a charset other than UTF-8', 'application/json; charset=ISO-8859-1'],
  ])('JSON declared as %s', async (_name, contentType) => {
    const fields = signed();
    const body = jsonBody(fields);
    const response = await post(body, contentType);
    expect(response.status).toBe(200);
    expect((await deliveredFor(response.body.id)).json).toEqual(fields);
  });

  it('a form declared as JSON, forwarded as a JSON object of its fields', async () => {
    const fields = signed({ channel_id: '房间 1+2' });
    const response = await post(formBody(fields), 'application/json');
    expect(response.status).toBe(200);
    expect((await deliveredFor(response.body.id)).json).toEqual(fields);
  });

  it('JSON with URL-encoded values, a ZIM-style integer timestamp and array fields, forwarded byte-exact', async () => {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const fields = sign(
      {
        appid: { raw: APP_ID },
        event: 'zim_message_sent',
        from_user_id: 'user%40example.com',
        msg_body: 'hello%20world%21',
        room_id: 'room%2F1',
        user_list: { raw: '[{"user_id":"u1","seq":6085791336856668982},{"user_id":"u2"}]' },
        tags: { raw: '["a","b"]' },
      },
      { secret: SECRET, timestamp: { raw: timestamp } },
    );
    const body = jsonBody(fields);
    const response = await post(body, 'application/json');
    expect(response.status).toBe(200);
    const delivered = await deliveredFor(response.body.id);
    expect(delivered.text).toBe(body);
    expect(delivered.text).toContain(`"timestamp":${timestamp}`);
    expect(delivered.text).toContain('"seq":6085791336856668982');
    expect(delivered.json).toMatchObject({ from_user_id: 'user%40example.com', msg_body: 'hello%20world%21', tags: ['a', 'b'] });
  });
});

describe('one callback, one id, whatever the encoding', () => {
  it('a JSON callback re-sent URL-encoded with a new nonce is a duplicate', async () => {
    const fields = mixStopFields({ appid: APP_ID });
    const first = await post(jsonBody(sign(fields, { secret: SECRET })), 'application/json');
    const again = await post(encodeURIComponent(jsonBody(sign(fields, { secret: SECRET }))), FORM);
    expect(first.body.duplicate).toBe(false);
    expect(again).toEqual({ status: 200, body: { ok: true, id: first.body.id, duplicate: true } });
  });

  it('a form callback re-sent as JSON is a duplicate', async () => {
    const fields = mixStopFields({ appid: APP_ID });
    const first = await post(formBody(sign(fields, { secret: SECRET })), FORM);
    const again = await post(jsonBody(sign(fields, { secret: SECRET })), 'application/json');
    expect(first.body.duplicate).toBe(false);
    expect(again).toEqual({ status: 200, body: { ok: true, id: first.body.id, duplicate: true } });
  });

  it('a body-hashed event re-sent as a form (numbers and a list as text) is a duplicate', async () => {
    const custom = { appid: APP_ID, event: 'custom_report', room_session_id: '6085791336856668982', tags: 'a' };
    const asJson = jsonBody(sign({ ...custom, room_session_id: { raw: custom.room_session_id }, tags: { raw: '[ "a" , "b" ]' } }, { secret: SECRET }));
    const asForm = `${formBody(sign(custom, { secret: SECRET }))}&tags=b`;
    const first = await post(asJson, 'application/json');
    const again = await post(asForm, FORM);
    expect(first.body.duplicate).toBe(false);
    expect(again.body).toEqual({ ok: true, id: first.body.id, duplicate: true });
  });
});

describe('bad bodies still fail', () => {
  const auth = { authorization: `Basic ${Buffer.from(`ops:${PASSWORD}`).toString('base64')}` };
  const rejected = async () => (await (await fetch(`${admin.url}/admin/api/rejected?limit=1000`, { headers: auth })).json()) as any[];

  it('garbage declared as JSON is 400 invalid_body and is listed with its signature masked', async () => {
    const fields = signed();
    const garbage = `${jsonBody(fields).slice(0, -1)}, oops`;
    const response = await post(garbage, 'application/json');
    expect(response).toEqual({ status: 400, body: { ok: false, error: { code: 'invalid_body', message: expect.any(String) } } });
    await expect.poll(async () => (await rejected()).find((sample) => sample.body.includes(fields.task_id as string)), { timeout: 5_000 }).toMatchObject({
      status: 400,
      code: 'invalid_body',
      contentType: 'application/json',
      size: Buffer.byteLength(garbage),
      truncated: false,
      body: garbage.replace(fields.signature as string, '***'),
    });
    expect(JSON.stringify(await rejected())).not.toContain(fields.signature as string);
  });

  it('XML declared as application/xml is 415, and listed', async () => {
    const xml = `<xml><appid>${APP_ID}</appid><signature>x</signature><marker>xml-415</marker></xml>`;
    const response = await post(xml, 'application/xml');
    expect(response.status).toBe(415);
    expect(response.body.error.code).toBe('unsupported_media_type');
    await expect.poll(async () => (await rejected()).find((sample) => sample.body.includes('xml-415'))).toMatchObject({
      status: 415, code: 'unsupported_media_type', contentType: 'application/xml',
    });
  });
});
