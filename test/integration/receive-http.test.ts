/**
 * The receiver's HTTP side as an operator sees it: the one log line per callback (its level,
 * fields and duration), the counters, what a refusal books for the rejected log, the 404 and 405
 * answers, and the receiver's start and close (src/receive/{app,callback-handler,server}.ts).
 *
 * The handler tests serve the real Koa app on 127.0.0.1 with a stand-in for the callback store
 * (our own `store()` interface, not Redis): only a stand-in can take a known time, throw a bug, or
 * answer "replayed" for a fresh callback. The lifecycle tests run the real receiver on real Redis.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { UnavailableError } from '../../src/errors.js';
import { silentLogger } from '../../src/lib/logger.js';
import Router from '@koa/router';
import Koa from 'koa';
import { createReceiverApp } from '../../src/receive/app.js';
import { healthRoutes } from '../../src/http/health.js';
import { Rejections } from '../../src/rejected/rejections.js';
import { startReceiver } from '../../src/receive/server.js';
import { callbacksReceived, callbacksRejected } from '../../src/shared/metrics.js';
import type { CallbackStore, StoreOutcome } from '../../src/intake/callback-store.js';
import { checkRedisSettings } from '../../src/redis/check.js';
import type { RejectedSample } from '../../src/rejected/log.js';
import { createProducerConnection, type RedisConnection } from '../../src/redis/connection.js';
import { APP_ID, testConfig } from '../helpers/config.js';
import { capturingLogger, type LogLine } from '../helpers/log-capture.js';
import { useTestRedis } from '../helpers/redis.js';
import { jsonBody, mixStopFields, sign } from '../helpers/zego.js';

type Line = LogLine & Record<string, unknown>;

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** The callback store's one method, answering `result` after `delayMs`. */
function standInStore(result: () => StoreOutcome | Promise<StoreOutcome>, delayMs = 0): Pick<CallbackStore, 'store'> {
  return {
    async store() {
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      return result();
    },
  };
}

/** Serves the receiver app on 127.0.0.1 with `store`; returns how to post and what it logged and sampled. */
async function serve(store: Pick<CallbackStore, 'store'>, bodyLimit?: number, own?: { rejections: Rejections; lines: LogLine[] }) {
  const config = testConfig({ server: bodyLimit === undefined ? {} : { bodyLimit } });
  const captured = capturingLogger('debug');
  const { logger } = captured;
  const lines = own?.lines ?? captured.lines;
  const samples: RejectedSample[] = [];
  const rejections = own?.rejections ?? new Rejections({ record: (sample) => samples.push(sample) }, logger);
  // /readyz is not asked here: the app never uses this connection.
  const app = createReceiverApp({ config, store, redis: undefined as unknown as RedisConnection, logger, rejections });
  const server = createServer(app.callback()).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  closers.push(() => new Promise((resolve) => server.close(resolve)));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    lines: lines as Line[],
    samples,
    async send(path: string, init: RequestInit = {}) {
      const started = performance.now();
      const response = await fetch(base + path, init);
      const body = (await response.json()) as Record<string, any>;
      return { status: response.status, headers: response.headers, body, wallMs: performance.now() - started };
    },
    post(text: string, contentType = 'application/json') {
      return this.send(config.server.callbackPath, { method: 'POST', body: text, headers: { 'content-type': contentType } });
    },
    callbackPath: config.server.callbackPath,
  };
}

/** The lines the handler wrote (the error middleware and the digest write others). */
const handlerLines = (lines: Line[]) => lines.filter((line) => line.msg.startsWith('callback '));

async function rejected(reason: string): Promise<number> {
  return (await callbacksRejected.get()).values.find((value) => value.labels.reason === reason)?.value ?? 0;
}

async function received(event: string, outcome: string): Promise<number> {
  return (await callbacksReceived.get()).values.find((value) => value.labels.event === event && value.labels.outcome === outcome)?.value ?? 0;
}

describe('the callback handler: one log line per callback', () => {
  it('logs an accepted callback at info with its id, event, app, outcome, status and its time to the tenth of a millisecond', async () => {
    const relay = await serve(standInStore(() => 'stored', 60));
    const before = await received('mix_stop', 'stored');
    const response = await relay.post(jsonBody(sign(mixStopFields())));
    expect(response.status).toBe(200);
    const [line, ...others] = handlerLines(relay.lines);
    expect(others).toEqual([]);
    expect(line).toMatchObject({
      level: 30, msg: 'callback accepted', callbackId: response.body.id, event: 'mix_stop', appId: APP_ID, outcome: 'stored', status: 200,
    });
    // The store took 60 ms: the handler's time includes it, and cannot exceed what the client waited.
    expect(line!.ms).toBeGreaterThanOrEqual(59);
    expect(line!.ms).toBeLessThanOrEqual(response.wallMs);
    expect(Number.isInteger(Math.round(line!.ms! * 10 * 1000) / 1000)).toBe(true);
    expect(await received('mix_stop', 'stored')).toBe(before + 1);
  });

  it('logs a duplicate as accepted with the outcome duplicate', async () => {
    const relay = await serve(standInStore(() => 'duplicate'));
    const response = await relay.post(jsonBody(sign(mixStopFields())));
    expect(response.body).toEqual({ ok: true, id: expect.any(String), duplicate: true });
    expect(handlerLines(relay.lines)).toMatchObject([{ level: 30, msg: 'callback accepted', outcome: 'duplicate', status: 200 }]);
  });

  it('logs a store outage at warn, with the underlying Redis error rather than the 503 wrapper', async () => {
    const cause = new Error('READONLY You can\'t write against a read only replica.');
    const relay = await serve(standInStore(() => { throw new UnavailableError(undefined, cause); }));
    const before = await received('mix_stop', 'unavailable');
    const response = await relay.post(jsonBody(sign(mixStopFields())));
    expect(response.status).toBe(503);
    expect(handlerLines(relay.lines)).toMatchObject([
      { level: 40, msg: 'callback not stored', event: 'mix_stop', outcome: 'unavailable', status: 503, err: { message: cause.message } },
    ]);
    expect(relay.samples).toEqual([]);
    expect(await received('mix_stop', 'unavailable')).toBe(before + 1);
  });

  it('answers a bug in the store 500 internal_error, logged at warn with the error itself and counted as internal_error', async () => {
    const relay = await serve(standInStore(() => { throw new TypeError('store is broken'); }));
    const before = await received('mix_stop', 'internal_error');
    const response = await relay.post(jsonBody(sign(mixStopFields())));
    expect(response.status).toBe(500);
    expect(response.body).toEqual({ ok: false, error: { code: 'internal_error', message: 'internal error' } });
    expect(handlerLines(relay.lines)).toMatchObject([
      { level: 40, msg: 'callback not stored', outcome: 'internal_error', status: 500, err: { message: 'store is broken' } },
    ]);
    // A 5xx is not a refusal: nothing is sampled or summarised.
    expect(relay.samples).toEqual([]);
    expect(await received('mix_stop', 'internal_error')).toBe(before + 1);
  });

  it('answers a nonce the store calls replayed 401 replayed_nonce, logged at debug and sampled', async () => {
    const relay = await serve(standInStore(() => 'replayed'));
    const response = await relay.post(jsonBody(sign(mixStopFields())));
    expect(response.status).toBe(401);
    expect(response.body).toEqual({ ok: false, error: { code: 'replayed_nonce', message: 'this nonce was already used with a different callback' } });
    expect(handlerLines(relay.lines)).toMatchObject([{ level: 20, msg: 'callback rejected', event: 'mix_stop', outcome: 'replayed_nonce', status: 401 }]);
    expect(relay.samples).toMatchObject([{ status: 401, code: 'replayed_nonce' }]);
  });

  it('books a refused callback with its declared type and bytes, and never labels it with the unauthenticated event', async () => {
    const relay = await serve(standInStore(() => 'stored'));
    const fields = sign(mixStopFields());
    const text = jsonBody({ ...fields, signature: 'f'.repeat(40) });
    const before = await received('none', 'bad_signature');
    const response = await relay.post(text, 'text/plain; charset=utf-8');
    expect(response.status).toBe(401);
    expect(handlerLines(relay.lines)).toMatchObject([{ level: 20, msg: 'callback rejected', appId: APP_ID, outcome: 'bad_signature', status: 401 }]);
    expect(relay.samples).toMatchObject([{ status: 401, code: 'bad_signature', contentType: 'text/plain; charset=utf-8', size: Buffer.byteLength(text) }]);
    expect(relay.samples[0]!.body).toContain('"event":"mix_stop"');
    expect(await received('none', 'bad_signature')).toBe(before + 1);
  });

  it('books a body announced over the limit with the size announced and nothing read', async () => {
    const relay = await serve(standInStore(() => 'stored'), 1_024);
    const text = `{"pad":"${'x'.repeat(3_000)}"}`;
    const response = await relay.post(text);
    expect(response.status).toBe(413);
    expect(response.body.error).toEqual({ code: 'payload_too_large', message: 'the body is larger than 1024 bytes' });
    expect(relay.samples).toHaveLength(1);
    // fetch sends a Content-Length: refused on it alone (test/unit/receive-body.test.ts reads a chunked one).
    expect(relay.samples[0]).toMatchObject({
      status: 413, code: 'payload_too_large', contentType: 'application/json', size: Buffer.byteLength(text), body: '', truncated: true,
    });
  });
});

describe('booking refusals', () => {
  it('counts each refusal by its reason', async () => {
    const relay = await serve(standInStore(() => 'stored'));
    const before = await rejected('invalid_payload');
    expect((await relay.post('{"appid":"1"}')).status).toBe(400);
    expect(await rejected('invalid_payload')).toBe(before + 1);
  });

  it('answers a refusal the same when the rejected log fails, and says so at debug level', async () => {
    const { logger, lines } = capturingLogger('debug');
    const rejections = new Rejections({ record: () => { throw new Error('sink is broken'); } }, logger);
    const relay = await serve(standInStore(() => 'stored'), undefined, { rejections, lines });
    expect((await relay.post('{"appid":"1"}')).status).toBe(400);
    expect(lines).toContainEqual(expect.objectContaining({ level: 20, msg: 'could not book a rejected request', err: 'sink is broken' }));
  });

  it('books nothing for the rejected log when it has none, and says nothing about it', async () => {
    const { logger, lines } = capturingLogger('debug');
    const relay = await serve(standInStore(() => 'stored'), undefined, { rejections: new Rejections(undefined, logger), lines });
    expect((await relay.post('{"appid":"1"}')).status).toBe(400);
    expect(lines.filter((line) => line.msg === 'could not book a rejected request')).toEqual([]);
  });
});

describe('the receiver app: other methods and paths', () => {
  it('answers another method on the callback path 405 with Allow: POST, and books it', async () => {
    const relay = await serve(standInStore(() => 'stored'));
    const before = await received('none', 'method_not_allowed');
    const response = await relay.send(relay.callbackPath, { method: 'PUT', body: 'x=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    expect(response.body).toEqual({ ok: false, error: { code: 'method_not_allowed', message: 'only POST is allowed here' } });
    expect(relay.samples).toMatchObject([{ status: 405, code: 'method_not_allowed', contentType: 'application/x-www-form-urlencoded', size: 0 }]);
    // Booked like every refusal: counted, and one debug line.
    expect(await received('none', 'method_not_allowed')).toBe(before + 1);
    expect(handlerLines(relay.lines)).toMatchObject([{ level: 20, msg: 'callback rejected', outcome: 'method_not_allowed', status: 405 }]);
    // Its duration in milliseconds, as small as refusing it is.
    const { ms } = handlerLines(relay.lines)[0] as { ms: number };
    expect(ms).toBeGreaterThanOrEqual(0);
    expect(ms).toBeLessThan(1_000);
  });

  it('books a 405 without a declared type as such', async () => {
    const relay = await serve(standInStore(() => 'stored'));
    expect((await relay.send(relay.callbackPath)).status).toBe(405);
    expect(relay.samples).toMatchObject([{ status: 405, contentType: null }]);
  });

  it('answers any other path 404 not_found', async () => {
    const relay = await serve(standInStore(() => 'stored'));
    const response = await relay.send('/somewhere/else', { method: 'POST', body: '{}' });
    expect(response.status).toBe(404);
    expect(response.body).toEqual({ ok: false, error: { code: 'not_found', message: 'nothing here' } });
  });
});

describe('startReceiver', () => {
  const redis = useTestRedis();

  it('fails to start on a port in use, with the reason, and leaves nothing open', async () => {
    const busy = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => busy.once('listening', resolve));
    redis.cleanup(() => new Promise((resolve) => busy.close(resolve)));
    const config = testConfig({ redisUrl: redis.url, serverPort: (busy.address() as AddressInfo).port });
    await expect(startReceiver(config, { logger: silentLogger })).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });

  it('/healthz and /readyz: never cached; the public /readyz says ready and nothing more', async () => {
    const config = testConfig({ redisUrl: redis.url });
    const handle = await startReceiver(config, { logger: silentLogger });
    redis.cleanup(() => handle.close());
    for (const path of ['/healthz', '/readyz']) {
      const response = await fetch(`http://127.0.0.1:${handle.port}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(await response.json()).toEqual({ ok: true });
    }
  });

  it("the admin listener's /readyz names the config and counts the callbacks not yet routed; 503 while Redis does not answer", async () => {
    const config = testConfig({ redisUrl: redis.url });
    const up = createProducerConnection(config.redis, 'readiness');
    // Nothing listens on port 1.
    const down = createProducerConnection(testConfig({ redisUrl: 'redis://127.0.0.1:1' }).redis, 'readiness');
    down.on('error', () => {});
    redis.cleanup(async () => {
      up.disconnect();
      down.disconnect();
    });
    const readyz = async (connection: RedisConnection) => {
      const app = new Koa();
      const router = healthRoutes(new Router(), { config, redis: connection, detailed: true, timeoutMs: 500 });
      app.use(router.routes());
      const server = createServer(app.callback()).listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      redis.cleanup(() => new Promise((resolve) => server.close(resolve)));
      const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/readyz`);
      return { status: response.status, cache: response.headers.get('cache-control'), body: await response.json() };
    };
    expect(await readyz(up)).toEqual({ status: 200, cache: 'no-store', body: { ok: true, redis: 'up', config: config.source, intakePending: 0 } });
    expect(await readyz(down)).toEqual({
      status: 503, cache: 'no-store', body: { ok: false, error: { code: 'unavailable', message: 'Redis does not answer' } },
    });
  });

  it('logs where it listens, then checks the Redis settings once connected, as the receiver component', async () => {
    const expected = (await checkRedisSettings(redis.inspector, silentLogger)).warnings;
    // The test Redis runs without AOF (helpers/redis.ts), so there is a warning to expect.
    expect(expected.length).toBeGreaterThan(0);
    const config = testConfig({ redisUrl: redis.url });
    const { logger, lines: logged } = capturingLogger('info');
    const lines = logged as Line[];
    const handle = await startReceiver(config, { logger });
    redis.cleanup(() => handle.close());
    expect(lines).toContainEqual(expect.objectContaining({
      level: 30, msg: 'receiver listening', component: 'receiver', host: '127.0.0.1', port: handle.port, callbackPath: config.server.callbackPath,
    }));
    await expect.poll(() => lines.filter((line) => line.redisCheck === true).map((line) => line.msg)).toEqual(expected);
    expect(lines.filter((line) => line.redisCheck === true).every((line) => line.component === 'receiver')).toBe(true);
  });

  it('closes once: stops listening, logs the refusals not yet summarised, and a second close is the same close', async () => {
    const config = testConfig({ redisUrl: redis.url });
    const { logger, lines } = capturingLogger('info');
    const handle = await startReceiver(config, { logger });
    const post = () => fetch(`http://127.0.0.1:${handle.port}${config.server.callbackPath}`, { method: 'POST', body: 'not json' }).then((response) => response.status);
    // The first refusal is logged at once; the next two wait for the minute's summary.
    expect([await post(), await post(), await post()]).toEqual([400, 400, 400]);
    const summaries = () => lines.filter((line) => / on the callback path rejected /.test(line.msg)).map((line) => line.msg);
    expect(summaries()).toHaveLength(1);
    const closing = handle.close();
    expect(handle.close()).toBe(closing);
    await closing;
    expect(handle.server.listening).toBe(false);
    expect(summaries()).toEqual([expect.stringMatching(/^1 request on/), expect.stringMatching(/^2 requests on the callback path rejected \(mostly invalid_payload\)/)]);
  });
});
