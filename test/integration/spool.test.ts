/**
 * The receiver's outage spool against a real redis-server that is killed and restarted, and real
 * files: callbacks acknowledged while Redis is down are fsynced in the spool and moved into Redis
 * once it is back, with the verdicts Redis would give, in the order they were acknowledged; a torn
 * record left by a crash is dropped, damaged bytes are kept aside; a full spool answers 503; one
 * process per spool directory.
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { RelayConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/lib/logger.js';
import { startAdmin } from '../../src/admin/listener.js';
import { startReceiver, type ReceiverHandle } from '../../src/receive/server.js';
import { withTimeout } from '../../src/lib/with-timeout.js';
import { AppendLog } from '../../src/spool/append-log.js';
import { SpoolDrain } from '../../src/spool/drain.js';
import { Spool } from '../../src/spool/spool.js';
import { CallbackStore } from '../../src/intake/callback-store.js';
import { SpoolDirectoryBusyError, lockSpoolDirectory } from '../../src/spool/lock.js';
import { encodeRecord } from '../../src/spool/record.js';
import { listSegments, segmentPath } from '../../src/spool/segment-files.js';
import { listRejected } from '../../src/rejected/log.js';
import { replayKey } from '../../src/shared/names.js';
import { capturingLogger, type LogLine } from '../helpers/log-capture.js';
import { freePort, startRedisServer, type RedisServer } from '../helpers/redis.js';
import { testConfig } from '../helpers/config.js';
import { intakeCallbacks } from '../helpers/intake.js';
import { jsonBody, mixStopFields, sign, type Fields } from '../helpers/zego.js';

const directories: string[] = [];
afterAll(() => directories.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function spoolDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'zego-relay-spool-'));
  directories.push(dir);
  return dir;
}

async function redisServer(port?: number): Promise<RedisServer> {
  const server = await startRedisServer({ appendfsync: 'everysec', ...(port ? { port } : {}) });
  cleanups.push(() => server.stop());
  return server;
}

function inspector(server: RedisServer): Redis {
  const client = new Redis(server.url, { maxRetriesPerRequest: null });
  client.on('error', () => {});
  cleanups.push(async () => client.disconnect());
  return client;
}

interface Answer {
  status: number;
  ms: number;
  body: { ok: boolean; id?: string; duplicate?: boolean; spooled?: boolean; error?: { code: string } };
}

async function receiverOn(config: RelayConfig, logger = silentLogger) {
  const receiver = await startReceiver(config, { logger });
  cleanups.push(() => receiver.close());
  return { receiver, post: (body: string) => post(receiver, body) };
}

async function post(receiver: ReceiverHandle, body: string): Promise<Answer> {
  const started = Date.now();
  const response = await fetch(`http://127.0.0.1:${receiver.port}/zego/callback`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json' },
    signal: AbortSignal.timeout(5_000),
  });
  return { status: response.status, ms: Date.now() - started, body: (await response.json()) as Answer['body'] };
}

/** A signed callback; `captured` reuses another's timestamp and nonce, so it carries the same signature. */
const callback = (overrides: Fields = {}, captured?: Fields) => jsonBody(sign(mixStopFields(overrides), captured ? { nonce: captured.nonce as string, timestamp: captured.timestamp as string } : {}));
const spoolFiles = (dir: string) => readdirSync(dir).filter((name) => name.endsWith('.spool'));
const messages = (lines: LogLine[]) => lines.map((line) => line.msg);

describe('the receiver with a spool, while Redis is down', () => {
  it('answers 200 spooled at once, and moves every callback into Redis once it is back, then writes to Redis again', async () => {
    const redis = await redisServer();
    const dir = spoolDir();
    const config = testConfig({ redisUrl: redis.url, spool: { dir } });
    const { receiver, post } = await receiverOn(config);
    const before = await post(callback());
    expect(before.body).toEqual({ ok: true, id: before.body.id, duplicate: false });

    await redis.kill();
    const during: Answer[] = [];
    for (let index = 0; index < 10; index += 1) during.push(await post(callback({ seq: String(index) })));
    for (const answer of during) {
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ ok: true, id: answer.body.id, duplicate: false, spooled: true });
      // Well under the store's 1.5 s deadline: the receiver knows Redis is down.
      expect(answer.ms).toBeLessThan(1_000);
    }
    expect(receiver.spoolStatus()).toMatchObject({ callbacks: 10, accepting: true });
    expect(spoolFiles(dir).length).toBeGreaterThan(0);
    // Still taking callbacks: a load balancer must keep sending them.
    expect((await fetch(`http://127.0.0.1:${receiver.port}/readyz`)).status).toBe(200);

    await redis.restart();
    const client = inspector(redis);
    await expect.poll(async () => (await intakeCallbacks(client, config)).map((stored) => stored.callbackId), { timeout: 15_000 })
      .toEqual([before.body.id, ...during.map((answer) => answer.body.id)]);
    await expect.poll(() => receiver.spoolStatus()?.callbacks).toBe(0);
    await expect.poll(() => spoolFiles(dir)).toEqual([]);
    const after = await post(callback());
    expect(after.body).toEqual({ ok: true, id: after.body.id, duplicate: false });
  });

  it('waits out the Redis deadline once when Redis stalls, then spools the rest at once', async () => {
    const redis = await redisServer();
    const config = testConfig({ redisUrl: redis.url, spool: { dir: spoolDir() } });
    const { post } = await receiverOn(config);
    expect((await post(callback())).status).toBe(200);
    // SIGSTOP: the connection stays up, only the answers stop coming.
    redis.pause();
    const first = await post(callback());
    expect(first.body.spooled).toBe(true);
    expect(first.ms).toBeGreaterThanOrEqual(1_400);
    expect(first.ms).toBeLessThan(2_000);
    for (let index = 0; index < 5; index += 1) {
      const next = await post(callback());
      expect(next.body.spooled).toBe(true);
      expect(next.ms).toBeLessThan(1_000);
    }
    redis.resume();
    const client = inspector(redis);
    await expect.poll(async () => (await intakeCallbacks(client, config)).length, { timeout: 15_000 }).toBe(7);
  });

  it("answers like Redis: a re-send is a duplicate, its nonce with another body is refused; a replay only Redis knows is dropped at drain and listed", async () => {
    const redis = await redisServer();
    const config = testConfig({ redisUrl: redis.url, spool: { dir: spoolDir() } });
    const { post } = await receiverOn(config);
    const stored = mixStopFields();
    const storedSigned = sign(stored, { nonce: `stored-${randomUUID()}` });
    expect((await post(jsonBody(storedSigned))).body.duplicate).toBe(false);

    await redis.kill();
    const fields = mixStopFields();
    const firstSigned = sign(fields, { nonce: 'first-nonce' });
    const first = jsonBody(firstSigned);
    const spooled = await post(first);
    expect(spooled.body).toMatchObject({ duplicate: false, spooled: true });
    // ZEGO's re-send: same callback, fresh timestamp, nonce and signature; and the same bytes again.
    const resendSigned = sign(fields, { nonce: 'resend-nonce' });
    const resend = await post(jsonBody(resendSigned));
    expect(resend.body).toEqual({ ok: true, id: spooled.body.id, duplicate: true });
    expect((await post(first)).body).toEqual({ ok: true, id: spooled.body.id, duplicate: true });
    // A forged body under the spooled callback's captured timestamp, nonce and signature.
    const forged = await post(callback({}, firstSigned));
    expect(forged.status).toBe(401);
    expect(forged.body.error?.code).toBe('replayed_nonce');
    // A forged body under a signature bound in Redis before the outage: only Redis can tell.
    const lateReplay = await post(callback({ task_id: 'replayed-late' }, storedSigned));
    expect(lateReplay.body).toMatchObject({ duplicate: false, spooled: true });

    await redis.restart();
    const client = inspector(redis);
    // Listed as refused: the late replay at drain, surely. The forgery answered 401 during the
    // outage is listed only if its sample's write (bounded, best effort) met Redis back in time.
    const lateSample = async () => (await listRejected(client, config.redis.prefix, 10)).find((sample) => sample.body.includes('replayed-late'));
    await expect.poll(lateSample, { timeout: 15_000 }).toBeDefined();
    const codes = (await listRejected(client, config.redis.prefix, 10)).map((sample) => sample.code);
    expect(codes.length).toBeGreaterThanOrEqual(1);
    expect(codes.length).toBeLessThanOrEqual(2);
    expect(new Set(codes)).toEqual(new Set(['replayed_nonce']));
    const sample = (await lateSample())!;
    expect(sample.status).toBe(401);
    expect(sample.message).toContain('found when the spool was drained');
    expect(sample.body).not.toMatch(/"signature":"[0-9a-f]{40}"/);
    const ids = (await intakeCallbacks(client, config)).map((entry) => entry.callbackId);
    expect(ids).toHaveLength(2);
    expect(ids[1]).toBe(spooled.body.id);
    expect(ids).not.toContain(lateReplay.body.id);
    // The re-send's fresh signature is bound to its callback, as the intake script binds it.
    expect(await client.get(replayKey(config.redis.prefix, resendSigned.signature as string))).toBe(spooled.body.id);
  });

  it('keeps the order of acknowledgement: callbacks answered while the spool drains go behind it', async () => {
    const redis = await redisServer();
    const dir = spoolDir();
    const config = testConfig({ redisUrl: redis.url, spool: { dir } });
    const { post } = await receiverOn(config);
    await redis.kill();
    const outage: string[] = [];
    for (let start = 0; start < 1_500; start += 50) {
      const answers = await Promise.all(Array.from({ length: 50 }, (_unused, index) => post(callback({ seq: String(start + index) }))));
      for (const answer of answers) {
        expect(answer.body.spooled).toBe(true);
        outage.push(answer.body.id!);
      }
    }
    await redis.restart();
    // One at a time, so their acknowledgement order is plain; some land while the spool drains.
    const after: string[] = [];
    const sending = (async () => {
      for (let index = 0; index < 150; index += 1) after.push((await post(callback())).body.id!);
    })();
    await sending;
    const client = inspector(redis);
    await expect.poll(async () => (await intakeCallbacks(client, config)).length, { timeout: 20_000 }).toBe(1_650);
    const order = (await intakeCallbacks(client, config)).map((entry) => entry.callbackId);
    expect(new Set(order.slice(0, 1_500))).toEqual(new Set(outage));
    expect(order.slice(1_500)).toEqual(after);
  });

  it('answers 503 once the spool is full, says so once, and takes callbacks again once it drained', async () => {
    const port = await freePort();
    const dir = spoolDir();
    const { logger, lines } = capturingLogger('info');
    const config = testConfig({ redisUrl: `redis://127.0.0.1:${port}`, spool: { dir, maxBytes: '2kb' } });
    const { receiver, post } = await receiverOn(config, logger);
    const answers: Answer[] = [];
    const firstFields = mixStopFields();
    answers.push(await post(jsonBody(sign(firstFields))));
    for (let index = 1; index < 8; index += 1) answers.push(await post(callback()));
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.slice(0, 2)).toEqual([200, 200]);
    expect(statuses.at(-1)).toBe(503);
    expect(statuses.indexOf(503)).toBeGreaterThan(0);
    // Once full, full: no 200 after the first 503.
    expect(statuses.slice(statuses.indexOf(503)).every((status) => status === 503)).toBe(true);
    for (const answer of answers.filter((one) => one.status === 503)) {
      expect(answer.body.error?.code).toBe('unavailable');
      expect(answer.ms).toBeLessThan(2_000);
    }
    // ZEGO re-sending a spooled callback gets its duplicate even now: that callback is safe.
    expect((await post(jsonBody(sign(firstFields)))).body).toEqual({ ok: true, id: answers[0]!.body.id, duplicate: true });
    expect(messages(lines).filter((message) => message.startsWith('the spool is full'))).toHaveLength(1);
    expect(receiver.spoolStatus()?.accepting).toBe(false);
    // Neither Redis nor the spool takes callbacks: not ready.
    expect((await fetch(`http://127.0.0.1:${receiver.port}/readyz`)).status).toBe(503);

    const redis = await redisServer(port);
    const client = inspector(redis);
    const acknowledged = answers.filter((answer) => answer.status === 200).map((answer) => answer.body.id);
    await expect.poll(async () => (await intakeCallbacks(client, config)).map((entry) => entry.callbackId), { timeout: 15_000 }).toEqual(acknowledged);
    await expect.poll(() => receiver.spoolStatus()?.accepting).toBe(true);
    expect(messages(lines)).toContain('the spool takes callbacks again');
  });
});

describe('the spool after a crash', () => {
  /** Spools `count` callbacks while nothing answers at `port`, then closes the receiver; returns their ids. */
  async function spoolWithoutRedis(dir: string, port: number, count: number): Promise<string[]> {
    const receiver = await startReceiver(testConfig({ redisUrl: `redis://127.0.0.1:${port}`, spool: { dir } }), { logger: silentLogger });
    try {
      const ids: string[] = [];
      for (let index = 0; index < count; index += 1) {
        // A nonce and a timestamp of fixed length: every record is as long as the others.
        const answer = await post(receiver, jsonBody(sign(mixStopFields({ seq: String(index) }), { nonce: randomUUID() })));
        expect(answer.body.spooled).toBe(true);
        ids.push(answer.body.id!);
      }
      return ids;
    } finally {
      await receiver.close();
    }
  }

  it('drops a torn last record (never acknowledged) and drains every other one', async () => {
    const port = await freePort();
    const dir = spoolDir();
    const ids = await spoolWithoutRedis(dir, port, 5);
    const [segment] = await listSegments(dir);
    // A crash while the next callback was written: half of its record made it to disk.
    const torn = encodeRecord({ callback: { callbackId: 'cb_torn', event: 'mix_stop', appId: '111111', replayKey: 'torn', body: '{}' }, receivedAt: Date.now() });
    appendFileSync(segmentPath(dir, segment!), torn.subarray(0, torn.length - 7));

    const redis = await redisServer(port);
    const { logger, lines } = capturingLogger('info');
    const config = testConfig({ redisUrl: redis.url, spool: { dir } });
    const { receiver } = await receiverOn(config, logger);
    expect(messages(lines)).toContain('dropped a torn record at the end of the spool (the process stopped while writing it; it was never acknowledged)');
    const client = inspector(redis);
    await expect.poll(async () => (await intakeCallbacks(client, config)).map((entry) => entry.callbackId), { timeout: 15_000 }).toEqual(ids);
    await expect.poll(() => spoolFiles(dir)).toEqual([]);
    expect(receiver.spoolStatus()?.callbacks).toBe(0);
  });

  it('keeps damaged bytes between records aside, and drains the records around them', async () => {
    const port = await freePort();
    const dir = spoolDir();
    const ids = await spoolWithoutRedis(dir, port, 5);
    const [segment] = await listSegments(dir);
    const path = segmentPath(dir, segment!);
    const bytes = readFileSync(path);
    const recordLength = bytes.length / 5;
    expect(Number.isInteger(recordLength)).toBe(true);
    // One byte of the third record's body changed: disk damage, not a torn write.
    bytes[2 * recordLength + 40] = bytes[2 * recordLength + 40]! ^ 0x20;
    writeFileSync(path, bytes);

    const redis = await redisServer(port);
    const { logger, lines } = capturingLogger('info');
    const config = testConfig({ redisUrl: redis.url, spool: { dir } });
    await receiverOn(config, logger);
    const client = inspector(redis);
    await expect.poll(async () => (await intakeCallbacks(client, config)).map((entry) => entry.callbackId), { timeout: 15_000 })
      .toEqual([ids[0], ids[1], ids[3], ids[4]]);
    expect(messages(lines).some((message) => message.startsWith('damaged bytes in the spool'))).toBe(true);
    const kept = readdirSync(dir).filter((name) => name.includes('.damaged-'));
    expect(kept).toEqual([`${path.split('/').at(-1)}.damaged-${2 * recordLength}`]);
    expect(readFileSync(join(dir, kept[0]!)).length).toBe(recordLength);
  });
});

describe('the spool and its drain', () => {
  it('drains callbacks spooled one after another as they come, never starving their fsync (with that bug it hangs)', async () => {
    const redis = await redisServer();
    const config = testConfig({ redisUrl: redis.url, spool: { dir: spoolDir() } });
    const spool = await Spool.open(config.spool as Exclude<RelayConfig['spool'], false>, silentLogger);
    cleanups.push(() => spool.close());
    const store = CallbackStore.open(config, silentLogger);
    cleanups.push(() => store.close());
    const drain = new SpoolDrain(spool, store, { logger: silentLogger, onReplayed: () => {} });
    drain.start();
    cleanups.push(() => drain.stop());
    // Each spooled while the drain may have just emptied the spool: a record on its way, none held.
    const ids: string[] = [];
    for (let index = 0; index < 60; index += 1) {
      const callbackId = `cb_${randomUUID().replace(/-/g, '')}`;
      ids.push(callbackId);
      const offered = spool.offer({ callbackId, event: 'mix_stop', appId: '111111', replayKey: randomUUID(), body: '{}' }, Date.now());
      await expect(withTimeout(offered, 2_000, () => new Error(`spooling callback ${index} did not finish`))).resolves.toBe('spooled');
      if (index % 20 === 0) await sleep(1_100);
    }
    const client = inspector(redis);
    await expect.poll(async () => (await intakeCallbacks(client, config)).map((entry) => entry.callbackId), { timeout: 10_000 }).toEqual(ids);
  });
});

describe('the spool on disk', () => {
  it('writes concurrent records with a few fsyncs between them (group commit), each where it says', async () => {
    const dir = spoolDir();
    const log = new AppendLog(dir, 1, 64 * 1024 * 1024);
    const records = Array.from({ length: 200 }, (_unused, index) => encodeRecord({ callback: { callbackId: `cb_${index}`, event: 'e', appId: '1', replayKey: String(index), body: '{}' }, receivedAt: index }));
    const placements = await Promise.all(records.map((record) => log.append(record)));
    await log.close();
    let offset = 0;
    for (const [index, placement] of placements.entries()) {
      expect(placement).toEqual({ segment: 1, offset });
      offset += records[index]!.length;
    }
    expect(readFileSync(segmentPath(dir, 1))).toEqual(Buffer.concat(records));
    expect(log.syncs).toBeLessThanOrEqual(10);
  });

  it('lets one process use a directory: a live holder keeps it, a gone one is taken over', async () => {
    const dir = spoolDir();
    const timing = { touchEveryMs: 50, staleMs: 300 };
    const lockFile = join(dir, 'lock');
    // Another process on this host that is alive (the test runner's parent), touching its lock.
    writeFileSync(lockFile, JSON.stringify({ host: hostname(), pid: process.ppid }));
    const toucher = setInterval(() => utimesSync(lockFile, new Date(), new Date()), 50);
    try {
      await expect(lockSpoolDirectory(dir, silentLogger, timing)).rejects.toThrow(SpoolDirectoryBusyError);
    } finally {
      clearInterval(toucher);
    }
    // The same holder, gone quiet (it died on another host, or its container was replaced).
    const quiet = await lockSpoolDirectory(dir, silentLogger, timing);
    expect(JSON.parse(readFileSync(lockFile, 'utf8'))).toEqual({ host: hostname(), pid: process.pid });
    await quiet.release();
    expect(existsSync(lockFile)).toBe(false);
    // A holder on this host that is no longer running: taken over at once.
    writeFileSync(lockFile, JSON.stringify({ host: hostname(), pid: 2 ** 22 + 12_345 }));
    const started = Date.now();
    const taken = await lockSpoolDirectory(dir, silentLogger, { touchEveryMs: 5_000, staleMs: 20_000 });
    expect(Date.now() - started).toBeLessThan(1_000);
    await taken.release();
  });
});

describe('readiness with a spool', () => {
  it('admin /readyz says Redis is down and how many callbacks are spooled, and stays ready', async () => {
    const redis = await redisServer();
    const config = testConfig({ redisUrl: redis.url, spool: { dir: spoolDir() } });
    const { receiver, post } = await receiverOn(config);
    const admin = await startAdmin(config, { logger: silentLogger, spool: () => receiver.spoolStatus() });
    cleanups.push(() => admin.close());
    const readyz = async () => {
      const response = await fetch(`${admin.url}/readyz`);
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    expect(await readyz()).toEqual({ status: 200, body: { ok: true, redis: 'up', config: 'test', intakePending: 0, spooled: 0 } });
    await redis.kill();
    for (let index = 0; index < 3; index += 1) expect((await post(callback())).body.spooled).toBe(true);
    expect(await readyz()).toEqual({ status: 200, body: { ok: true, redis: 'down', config: 'test', spooled: 3 } });
    await redis.restart();
    await expect.poll(async () => (await readyz()).body, { timeout: 15_000 }).toEqual({ ok: true, redis: 'up', config: 'test', intakePending: 3, spooled: 0 });
  });
});
