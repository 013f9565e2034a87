/**
 * The public listener against an attacker: a nonce captured from one app cannot be replayed as
 * another app that shares its secret, the router matches the callback path exactly, and /readyz
 * says ready or not and nothing more.
 */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/lib/logger.js';
import { startReceiver } from '../../src/receive/server.js';
import { intakeCallbacks } from '../helpers/intake.js';
import { APP_ID, SECRET, testConfig, type TestConfigOptions } from '../helpers/config.js';
import { zegoSignature } from '../../src/receive/signature.js';
import { jsonBody, mixStopFields, sign, type Fields } from '../helpers/zego.js';
import { freePort, useTestRedis } from '../helpers/redis.js';

const redis = useTestRedis();
const OTHER_APP_ID = '222222';

async function receiver(options: Omit<TestConfigOptions, 'redisUrl'> = {}) {
  const config = testConfig({ redisUrl: redis.url, ...options });
  const handle = await startReceiver(config, { logger: silentLogger });
  redis.cleanup(() => handle.close());
  const base = `http://127.0.0.1:${handle.port}`;
  /** What the receiver stored (the intake log; no router runs here). */
  const stored = () => intakeCallbacks(redis.inspector, config);
  const post = async (path: string, body: string) => {
    const response = await fetch(`${base}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    return { status: response.status, body: (await response.json()) as any };
  };
  return { config, base, stored, post };
}

describe('a nonce is bound across apps', () => {
  it('refuses a (timestamp, nonce, signature) captured from app A and re-sent as app B with a forged body', async () => {
    const relay = await receiver({
      zego: { apps: [{ appId: APP_ID, callbackSecrets: [SECRET] }, { appId: OTHER_APP_ID, callbackSecrets: [SECRET] }] },
      targets: [{ name: 'app-a', events: ['*'], appIds: [APP_ID] }, { name: 'app-b', events: ['*'], appIds: [OTHER_APP_ID] }],
    });
    const captured = sign(mixStopFields());
    const original = await relay.post('/zego/callback', jsonBody(captured));
    expect(original.status).toBe(200);

    // ZEGO's signature covers timestamp and nonce only, so the triple verifies for app B too.
    const forged = { ...mixStopFields({ appid: OTHER_APP_ID, task_id: 'forged', seq: '1' }), timestamp: captured.timestamp!, nonce: captured.nonce!, signature: captured.signature! };
    const replay = await relay.post('/zego/callback', jsonBody(forged));
    expect(replay).toEqual({ status: 401, body: { ok: false, error: { code: 'replayed_nonce', message: expect.any(String) } } });
    expect((await relay.stored()).map((callback) => callback.appId)).toEqual([APP_ID]);
  });
});

describe('a captured signature binds the text ZEGO signed, whatever its spelling', () => {
  /** ZEGO's signature joins the sorted strings with no separator: the forger keeps that text. */
  const signsTheSame = (timestamp: string, nonce: string, signature: string) => zegoSignature(SECRET, timestamp, nonce) === signature;

  it('refuses a shorter nonce with a zero-padded timestamp (same sorted text), and stores nothing for it', async () => {
    const relay = await receiver();
    const now = String(Math.floor(Date.now() / 1000));
    // A nonce that starts with 0 (sorting before the timestamp both ways) and ends with 0: drop
    // its last 0, put a 0 in front of the timestamp.
    const captured = sign(mixStopFields(), { timestamp: now, nonce: `00${Math.floor(Math.random() * 1e9)}0` });
    expect((await relay.post('/zego/callback', jsonBody(captured))).status).toBe(200);
    const nonce = (captured.nonce as string).slice(0, -1);
    const timestamp = `0${now}`;
    expect(signsTheSame(timestamp, nonce, captured.signature as string)).toBe(true);

    const forged = { ...mixStopFields({ task_id: `${APP_ID}:forged` }), timestamp, nonce, signature: captured.signature! };
    const answer = await relay.post('/zego/callback', jsonBody(forged));
    expect(answer.status).not.toBe(200);
    expect(answer.body).toEqual({ ok: false, error: { code: 'invalid_payload', message: 'timestamp must be Unix seconds (digits, no leading zero)' } });
    expect((await relay.stored()).map((callback) => JSON.parse(callback.body).task_id)).toEqual([captured.task_id]);
  });

  it('refuses another split of the same text with canonical timestamps: the signature, not the nonce, is bound', async () => {
    const relay = await receiver();
    const now = Math.floor(Date.now() / 1000);
    const [early, late] = [String(now), String(now + 1)];
    // Genuine: timestamp `early`, nonce "9" + `late`; sorted and joined: early + "9" + late + secret.
    // Forged: timestamp `late`, nonce `early` + "9"; sorted and joined: the same text.
    const captured = sign(mixStopFields(), { timestamp: early, nonce: `9${late}` });
    expect((await relay.post('/zego/callback', jsonBody(captured))).status).toBe(200);
    expect(signsTheSame(late, `${early}9`, captured.signature as string)).toBe(true);

    const forged = { ...mixStopFields({ task_id: `${APP_ID}:forged` }), timestamp: late, nonce: `${early}9`, signature: captured.signature! };
    const answer = await relay.post('/zego/callback', jsonBody(forged));
    expect(answer).toEqual({ status: 401, body: { ok: false, error: { code: 'replayed_nonce', message: expect.any(String) } } });
    expect((await relay.stored()).map((callback) => JSON.parse(callback.body).task_id)).toEqual([captured.task_id]);
  });

  it.each([
    ['the signature in upper case', (captured: Fields) => ({ signature: (captured.signature as string).toUpperCase() })],
    ['PascalCase Nonce and Signature', (captured: Fields) => ({ Timestamp: captured.timestamp!, Nonce: captured.nonce!, Signature: captured.signature! })],
  ])('refuses a forged body carrying %s', async (_name, spelling) => {
    const relay = await receiver();
    const captured = sign(mixStopFields());
    expect((await relay.post('/zego/callback', jsonBody(captured))).status).toBe(200);
    const common = { timestamp: captured.timestamp!, nonce: captured.nonce!, signature: captured.signature!, ...spelling(captured) };
    const pascal = 'Nonce' in common;
    const forged = {
      ...mixStopFields({ task_id: `${APP_ID}:forged` }),
      ...(pascal ? { Timestamp: common.Timestamp, Nonce: common.Nonce, Signature: common.Signature } : { timestamp: common.timestamp, nonce: common.nonce, signature: common.signature }),
    } as Fields;
    const answer = await relay.post('/zego/callback', jsonBody(forged));
    expect(answer).toEqual({ status: 401, body: { ok: false, error: { code: 'replayed_nonce', message: expect.any(String) } } });
    expect(await relay.stored()).toHaveLength(1);
  });
});

describe('the public router', () => {
  it('matches the callback path case-sensitively and without a trailing slash', async () => {
    const relay = await receiver();
    const body = () => jsonBody(sign(mixStopFields()));
    for (const path of ['/ZEGO/CALLBACK', '/Zego/callback', '/zego/callback/', '/zego/callback//']) {
      const response = await relay.post(path, body());
      expect(response, path).toEqual({ status: 404, body: { ok: false, error: { code: 'not_found', message: expect.any(String) } } });
    }
    for (const path of ['/HEALTHZ', '/healthz/', '/readyz/']) {
      expect((await fetch(`${relay.base}${path}`)).status, path).toBe(404);
    }
    expect((await relay.post('/zego/callback', body())).status).toBe(200);
    expect(await relay.stored()).toHaveLength(1);
  });
});

describe('/readyz on the public listener', () => {
  it('says ready and nothing else: no config path, no Redis details', async () => {
    const relay = await receiver();
    const response = await fetch(`${relay.base}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true });
  });

  it('says not ready and nothing else while Redis is unreachable', async () => {
    const config = testConfig({ redisUrl: `redis://127.0.0.1:${await freePort()}` });
    const handle = await startReceiver(config, { logger: silentLogger });
    redis.cleanup(() => handle.close());
    const response = await fetch(`http://127.0.0.1:${handle.port}/readyz`);
    expect(response.status).toBe(503);
    expect(await response.json()).toEqual({ ok: false, error: { code: 'unavailable', message: 'not ready' } });
  });
});
