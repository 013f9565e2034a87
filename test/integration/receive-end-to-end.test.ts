/**
 * What a target receives for a callback sent to the real receiver, routed and delivered by the
 * real workers over HTTP on 127.0.0.1: the body byte for byte, the protocol headers whatever the
 * target's own headers say, and one delivery per callback (two mix_stops that differ only in
 * `seq` are two callbacks).
 */
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type RelayConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/lib/logger.js';
import { startReceiver, type ReceiverHandle } from '../../src/receive/server.js';
import { zegoSignature } from '../../src/receive/signature.js';
import { startWorkers, type WorkersHandle } from '../../workers/role.js';
import { useTestRedis } from '../helpers/redis.js';
import { APP_ID as TEST_APP_ID, SECRET as TEST_SECRET, testConfigObject } from '../helpers/config.js';
import { startTargetServer, type ReceivedRequest, type TargetServer } from '../helpers/targets.js';
import { jsonBody, mixStopFields, sign } from '../helpers/zego.js';

const redis = useTestRedis();
const SIGNING_SECRET = `whsec_${randomBytes(32).toString('base64')}`;
/** A target that tries to set every protocol header (and two it may set). */
const TARGET_HEADERS = {
  'Content-Type': 'text/plain',
  'Webhook-Id': 'forged-id',
  'webhook-timestamp': '1',
  'Webhook-Signature': 'v1,Zm9yZ2Vk',
  'X-Zego-Event': 'forged_event',
  'x-zego-appid': '0',
  'X-Relay-Attempt': '99',
  'User-Agent': 'billing-relay/2',
  Authorization: 'Bearer token-1',
};

let config: RelayConfig;
let target: TargetServer;
let receiver: ReceiverHandle;
let workers: WorkersHandle;

beforeAll(async () => {
  target = await startTargetServer();
  const object = testConfigObject({ redisUrl: redis.url, targetUrl: target.url });
  const [billing] = object.targets as Record<string, unknown>[];
  Object.assign(billing!, { signingSecret: SIGNING_SECRET, headers: TARGET_HEADERS });
  config = parseConfig(JSON.stringify(object), { env: {}, source: 'test' });
  receiver = await startReceiver(config, { logger: silentLogger });
  workers = await startWorkers(config, { logger: silentLogger });
});
afterAll(async () => {
  await workers?.close();
  await receiver?.close();
  await target?.close();
});

async function post(body: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`http://127.0.0.1:${receiver.port}${config.server.callbackPath}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json' },
  });
  return { status: response.status, body: await response.json() };
}

/** The request the target received for callback `id` (by its webhook-id header). */
function deliveredFor(id: string): Promise<ReceivedRequest> {
  return deliveredWhere((request) => request.headers['webhook-id'] === id);
}

async function deliveredWhere(matches: (request: ReceivedRequest) => boolean): Promise<ReceivedRequest> {
  await expect.poll(() => target.requests.some(matches), { timeout: 10_000 }).toBe(true);
  return target.requests.find(matches)!;
}

const nowSeconds = () => String(Math.floor(Date.now() / 1000));

describe('a callback through the receiver, router and workers', () => {
  it('arrives byte for byte: odd spacing, unsorted keys, escapes and a 64-bit number untouched', async () => {
    const nonce = String(Math.floor(Math.random() * 1e15));
    const timestamp = nowSeconds();
    const signature = zegoSignature(TEST_SECRET, timestamp, nonce);
    // Keys out of any order, spaces and a tab and newlines around tokens, an escaped slash and a
    // \u escape that JSON.stringify would rewrite, a float with an exponent, 64-bit digits.
    const body =
      `{ "room_session_id" :  6085791336856668983 ,\n\t"event":"room_create",  "appid" : ${TEST_APP_ID},` +
      `"name":"caf\\u00e9 \\/ 1" , "ratio": 1.50E+2, "signature":"${signature}",` +
      `"nonce":"${nonce}","timestamp":${timestamp} , "empty" : { } }\n`;
    const response = await post(body);
    expect(response.status).toBe(200);
    const request = await deliveredFor(response.body.id);
    expect(request.body.equals(Buffer.from(body, 'utf8'))).toBe(true);
    expect(request.body.toString('utf8')).toContain('6085791336856668983');
  });

  it('carries the protocol headers, never the values a target configured for them', async () => {
    const fields = sign(mixStopFields({ appid: TEST_APP_ID }), { secret: TEST_SECRET });
    const body = jsonBody(fields);
    const response = await post(body);
    expect(response.status).toBe(200);
    // Found by its body: the webhook-id header is one of the things under test.
    const request = await deliveredWhere((received) => received.body.toString('utf8') === body);
    expect(request.headers).toMatchObject({
      'content-type': 'application/json',
      'webhook-id': response.body.id,
      'x-zego-event': 'mix_stop',
      'x-zego-appid': TEST_APP_ID,
      'x-relay-attempt': '1',
      // The two it may set.
      'user-agent': 'billing-relay/2',
      authorization: 'Bearer token-1',
    });
    expect(Math.abs(Number(request.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(10);
    expect(request.headers['webhook-signature']).not.toContain('Zm9yZ2Vk');
    // Each header once: a target's spelling of a protocol header is not sent next to ours.
    const names = request.rawHeaders.filter((_value, index) => index % 2 === 0).map((name) => name.toLowerCase());
    expect(new Set(names).size).toBe(names.length);
    // The signature verifies over the exact bytes, with the relay's id and timestamp.
    expect(() => new Webhook(SIGNING_SECRET).verify(request.body.toString('utf8'), request.headers as Record<string, string>)).not.toThrow();
  });

  it('gives two mix_stops that differ only in seq two ids, and delivers both', async () => {
    const fields = mixStopFields({ appid: TEST_APP_ID });
    const first = await post(jsonBody(sign({ ...fields, seq: '1' }, { secret: TEST_SECRET })));
    const second = await post(jsonBody(sign({ ...fields, seq: '2' }, { secret: TEST_SECRET })));
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.body.duplicate).toBe(false);
    expect(second.body.id).not.toBe(first.body.id);
    const delivered = await Promise.all([deliveredFor(first.body.id), deliveredFor(second.body.id)]);
    expect(delivered.map((request) => JSON.parse(request.body.toString('utf8')).seq)).toEqual(['1', '2']);
  });
});
