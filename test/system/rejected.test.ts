/**
 * What the relay keeps of refused requests, against a real redis-server and real HTTP: the
 * bounded Redis list (never over 1,000, 24 h), the admin API and the `rejected` command that list
 * it, the metric by reason, one log warning a minute for a burst, and an answer that never waits
 * for (or changes with) the sample's write.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { startAdmin } from '../../src/admin/listener.js';
import { silentLogger, type Logger } from '../../src/lib/logger.js';
import { callbacksRejected, rejectedSamplesDropped } from '../../src/shared/metrics.js';
import { RejectionDigest } from '../../src/rejected/digest.js';
import { startReceiver } from '../../src/receive/server.js';
import { listRejected, REJECTED_KEEP_MS, rejectedKey } from '../../src/rejected/log.js';
import { runCli } from '../helpers/cli.js';
import { freePort, startRedisServer, useTestRedis } from '../helpers/redis.js';
import { APP_ID, SECRET, testConfig, testConfigObject } from '../helpers/config.js';
import { jsonBody, mixStopFields, sign } from '../helpers/zego.js';

const redis = useTestRedis();
const PASSWORD = 'correct horse battery staple';
const auth = { authorization: `Basic ${Buffer.from(`ops:${PASSWORD}`).toString('base64')}` };
const dir = mkdtempSync(join(tmpdir(), 'zego-relay-rejected-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A logger whose JSON lines the test can read. */
function capturingLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines: () => lines };
}

async function startRelay(options: { redisUrl?: string; logger?: Logger } = {}) {
  const config = testConfig({ redisUrl: options.redisUrl ?? redis.url, adminPassword: PASSWORD });
  const receiver = await startReceiver(config, { logger: options.logger ?? silentLogger });
  redis.cleanup(() => receiver.close());
  const url = `http://127.0.0.1:${receiver.port}${config.server.callbackPath}`;
  const post = async (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) => {
    const response = await fetch(url, { method: 'POST', body, headers });
    return { status: response.status, body: (await response.json()) as any };
  };
  return { config, receiver, url, post };
}

/** Sends `count` bad requests, `concurrency` at a time; request `index` carries the marker `bad-<index>`. */
async function sendBad(post: (body: string, headers?: Record<string, string>) => Promise<{ status: number }>, count: number, concurrency = 25, headers?: Record<string, string>) {
  for (let start = 0; start < count; start += concurrency) {
    const batch = Array.from({ length: Math.min(concurrency, count - start) }, (_unused, offset) => post(`{"marker":"bad-${start + offset}", ${'x'.repeat(3000)}`, headers));
    for (const response of await Promise.all(batch)) expect(response.status).toBe(400);
  }
}

const rejectedCount = async (reason: string) => (await callbacksRejected.get()).values.find((value) => value.labels.reason === reason)?.value ?? 0;

describe('the rejected list in Redis', () => {
  it('keeps at most 1,000 samples of bounded size for 24 h, however many requests are refused', async () => {
    const relay = await startRelay();
    const key = rejectedKey(relay.config.redis.prefix);
    const hugeType = `application/json; x=${'y'.repeat(4000)}`;
    await sendBad(relay.post, 1_500, 25, { 'content-type': hugeType });
    await expect.poll(async () => (await listRejected(redis.inspector, relay.config.redis.prefix, 1_000)).some((sample) => sample.body.includes('"bad-1499"'))).toBe(true);
    expect(await redis.inspector.llen(key)).toBe(1_000);
    const ttl = await redis.inspector.pttl(key);
    expect(ttl).toBeGreaterThan(REJECTED_KEEP_MS - 60_000);
    expect(ttl).toBeLessThanOrEqual(REJECTED_KEEP_MS);
    const entries = await redis.inspector.lrange(key, 0, -1);
    expect(Math.max(...entries.map((entry) => Buffer.byteLength(entry)))).toBeLessThan(2_600);
    const markers = (await listRejected(redis.inspector, relay.config.redis.prefix, 1_000)).map((sample) => Number(/"bad-(\d+)"/.exec(sample.body)![1]));
    // Newest first: the oldest 500 (give or take one batch in flight) are gone.
    expect(Math.min(...markers)).toBeGreaterThanOrEqual(500 - 25);
    expect(markers[0]).toBeGreaterThanOrEqual(1_500 - 25);
  }, 60_000);

  it('skips samples older than 24 h, and entries it did not write', async () => {
    const prefix = `test-old-${Date.now()}`;
    const old = { at: new Date(Date.now() - REJECTED_KEEP_MS - 1_000).toISOString(), status: 400, code: 'invalid_body', message: '', contentType: null, size: 0, body: '', truncated: false };
    await redis.inspector.lpush(rejectedKey(prefix), JSON.stringify(old), 'not json', '42', JSON.stringify({ ...old, at: new Date().toISOString() }));
    redis.cleanup(() => redis.inspector.del(rejectedKey(prefix)));
    expect(await listRejected(redis.inspector, prefix, 10)).toHaveLength(1);
  });

  it('never delays or changes an answer: Redis stalled, bad requests are still answered at once, one warning', async () => {
    const stalled = await startRedisServer();
    redis.cleanup(() => stalled.stop());
    const { logger, lines } = capturingLogger();
    const relay = await startRelay({ redisUrl: stalled.url, logger });
    const inspector = new Redis(stalled.url);
    redis.cleanup(async () => inspector.disconnect());
    expect((await relay.post('{"marker": 1', { 'content-type': 'application/json' })).status).toBe(400);
    await expect.poll(async () => (await listRejected(inspector, relay.config.redis.prefix, 10)).length).toBe(1);
    const droppedBefore = (await rejectedSamplesDropped.get()).values[0]?.value ?? 0;
    stalled.pause();
    redis.cleanup(async () => stalled.resume());
    const started = Date.now();
    await sendBad(relay.post, 100, 25);
    // The samples' writes wait 1.5 s (the command timeout) before failing; the answers did not.
    expect(Date.now() - started).toBeLessThan(1_400);
    await expect.poll(async () => ((await rejectedSamplesDropped.get()).values[0]?.value ?? 0) - droppedBefore, { timeout: 10_000 }).toBe(100);
    expect(lines().filter((line) => String(line.msg).startsWith('cannot sample rejected requests')).length).toBe(1);
    stalled.resume();
  }, 30_000);
});

describe('counting and logging refusals', () => {
  it('counts every 4xx on the callback path by reason, 405 included, and logs one warning for a burst', async () => {
    const { logger, lines } = capturingLogger();
    const relay = await startRelay({ logger });
    const before = { invalidBody: await rejectedCount('invalid_body'), badSignature: await rejectedCount('bad_signature'), method: await rejectedCount('method_not_allowed') };
    await sendBad(relay.post, 30, 10);
    expect((await relay.post(jsonBody(sign(mixStopFields({ appid: APP_ID }), { secret: 'wrong' })))).status).toBe(401);
    expect((await fetch(relay.url)).status).toBe(405);
    expect(await rejectedCount('invalid_body')).toBe(before.invalidBody + 30);
    expect(await rejectedCount('bad_signature')).toBe(before.badSignature + 1);
    expect(await rejectedCount('method_not_allowed')).toBe(before.method + 1);
    const warnings = lines().filter((line) => line.level === 40 && 'rejected' in line);
    expect(warnings).toEqual([expect.objectContaining({ rejected: 1, topReason: 'invalid_body' })]);
    expect(lines().filter((line) => line.msg === 'callback rejected' && line.level !== 20)).toEqual([]);
  });

  it('summarises a burst once a minute with the count and the top reason', () => {
    vi.useFakeTimers({ now: 0 });
    try {
      const { logger, lines } = capturingLogger();
      const digest = new RejectionDigest({ logger, now: () => Date.now() });
      digest.add('invalid_payload');
      for (let second = 1; second < 60; second += 1) {
        vi.advanceTimersByTime(1_000);
        digest.add(second % 3 === 0 ? 'bad_signature' : 'invalid_body');
      }
      expect(lines().map((line) => line.rejected)).toEqual([1]);
      vi.advanceTimersByTime(1_000);
      expect(lines().map((line) => [line.rejected, line.topReason])).toEqual([[1, 'invalid_payload'], [59, 'invalid_body']]);
      expect(lines()[1]!.reasons).toEqual({ invalid_body: 40, bad_signature: 19 });
      vi.advanceTimersByTime(10 * 60_000);
      expect(lines()).toHaveLength(2);
      digest.add('unknown_app');
      expect(lines()).toHaveLength(3);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('GET /admin/api/rejected', () => {
  it('lists the latest first behind basic auth, refuses a bad limit, and is off without a password', async () => {
    const relay = await startRelay();
    const admin = await startAdmin(relay.config, { logger: silentLogger });
    redis.cleanup(() => admin.close());
    await sendBad(relay.post, 3, 1);
    const api = `${admin.url}/admin/api/rejected`;
    await expect.poll(async () => ((await (await fetch(api, { headers: auth })).json()) as unknown[]).length).toBe(3);
    const two = await fetch(`${api}?limit=2`, { headers: auth });
    expect(two.status).toBe(200);
    expect(two.headers.get('content-type')).toContain('application/json');
    expect(((await two.json()) as { body: string }[]).map((sample) => /"bad-(\d)"/.exec(sample.body)![1])).toEqual(['2', '1']);
    expect((await fetch(api)).status).toBe(401);
    for (const limit of ['0', '1001', 'ten', '1.5', '']) {
      const bad = await fetch(`${api}?limit=${limit}`, { headers: auth });
      expect(bad.status, limit).toBe(400);
      expect(await bad.json()).toEqual({ ok: false, error: { code: 'invalid_body', message: expect.stringContaining('limit') } });
    }
    expect((await fetch(`${api}?limit=1&limit=2`, { headers: auth })).status).toBe(400);

    const closed = await startAdmin(testConfig({ redisUrl: redis.url }), { logger: silentLogger });
    redis.cleanup(() => closed.close());
    expect((await fetch(`${closed.url}/admin/api/rejected`, { headers: auth })).status).toBe(404);
  });
});

describe('zego-relay rejected', () => {
  it('prints the latest refusals with the signature masked, as text or JSON; exit 0, 1 and 2', async () => {
    const configObject = testConfigObject({ redisUrl: redis.url });
    const path = join(dir, 'relay.yaml');
    writeFileSync(path, JSON.stringify(configObject));
    const config = testConfig({ redisUrl: redis.url });
    const { prefix } = configObject.redis as { prefix: string };
    const fields = sign(mixStopFields({ appid: APP_ID, channel_id: 'esc\u001b[31m' }), { secret: SECRET });
    const receiver = await startReceiver({ ...config, redis: { ...config.redis, prefix } }, { logger: silentLogger });
    redis.cleanup(() => receiver.close());

    const empty = await runCli(['rejected', '--config', path]);
    expect(empty).toMatchObject({ code: 0, stdout: 'no request was refused in the last 24 h\n' });

    const garbage = `${jsonBody(fields)} trailing`;
    await fetch(`http://127.0.0.1:${receiver.port}/zego/callback`, { method: 'POST', body: garbage, headers: { 'content-type': 'application/json' } });
    await expect.poll(async () => (await listRejected(redis.inspector, prefix, 10)).length).toBe(1);
    const text = await runCli(['rejected', '--limit', '5', '--config', path]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z {2}400 invalid_body {2}application\/json {2}\d+ bytes\n/);
    expect(text.stdout).toContain('"signature":"***"');
    expect(text.stdout).toContain('esc\\u001b[31m');
    expect(text.stdout).not.toContain(fields.signature as string);
    expect(text.stdout).not.toContain('\u001b');

    const json = await runCli(['rejected', '--json', '--config', path]);
    expect(JSON.parse(json.stdout)).toEqual([expect.objectContaining({ status: 400, code: 'invalid_body', size: Buffer.byteLength(garbage) })]);

    expect((await runCli(['rejected', '--limit', '0', '--config', path])).code).toBe(2);
    const help = await runCli(['rejected', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('GET /admin/api/rejected');

    const nobodyHome = join(dir, 'down.yaml');
    writeFileSync(nobodyHome, JSON.stringify(testConfigObject({ redisUrl: `redis://127.0.0.1:${await freePort()}` })));
    const down = await runCli(['rejected', '--config', nobodyHome]);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('did not answer');
  }, 60_000);
});
