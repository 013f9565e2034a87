/**
 * The public listener against an attacker: a nonce captured from one app cannot be replayed as
 * another app that shares its secret, the router matches the callback path exactly, and /readyz
 * says ready or not and nothing more.
 */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../src/lib/logger.js';
import { startReceiver } from '../src/receive/server.js';
import { intakeCallbacks } from './helpers/intake.js';
import { APP_ID, SECRET, testConfig, type TestConfigOptions } from './helpers/config.js';
import { jsonBody, mixStopFields, sign } from './helpers/zego.js';
import { freePort, useTestRedis } from './helpers/redis.js';

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
