/**
 * The outage spool with whole relay processes (`zego-relay start`, the compiled CLI):
 * - a Redis outage three times longer than ZEGO's retry budget (ZEGO's schedule scaled by 0.1,
 *   so 6.2 s, against an 18.6 s outage) under a ZEGO-like sender: every callback is acknowledged
 *   within the budget and every one is delivered once Redis is back;
 * - the relay SIGKILLed while Redis is down and its spool holds acknowledged callbacks, restarted
 *   still without Redis: once Redis comes, every acknowledged callback is delivered.
 * Without the spool the receiver answers 503 for the whole outage, and ZEGO gives up.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startRelayCli } from '../../bench/lib/relay-cli.js';
import { ZEGO_RETRY_DELAYS_MS } from '../../src/cli/simulate.js';
import { freePort, startRedisServer } from '../../src/dev/redis-process.js';
import { spawnCli } from '../helpers/cli.js';
import { APP_ID, SECRET, testConfigObject } from '../helpers/config.js';
import { startTargetServer, type TargetServer } from '../helpers/targets.js';
import { ZegoSender } from '../helpers/zego-sender.js';
import { jsonBody, mixStopFields, sign } from '../helpers/zego.js';

const RETRY_SCALE = 0.1;
/** ZEGO's whole retry budget, scaled: 2 + 4 + 8 + 16 + 32 s times 0.1. */
const BUDGET_MS = ZEGO_RETRY_DELAYS_MS.reduce((sum, delay) => sum + delay, 0) * RETRY_SCALE;
const OUTAGE_MS = 3 * BUDGET_MS;

const directory = mkdtempSync(join(tmpdir(), 'zego-relay-spool-outage-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function target(): Promise<TargetServer> {
  const server = await startTargetServer();
  cleanups.push(() => server.close());
  return server;
}

/** A relay config file with a spool of its own, delivering every event to `targetUrl`. */
async function configFile(name: string, redisUrl: string, targetUrl: string): Promise<{ file: string; port: number }> {
  const port = await freePort();
  const config = testConfigObject({
    redisUrl,
    serverPort: port,
    adminPort: await freePort(),
    spool: { dir: join(directory, `${name}-spool`) },
    targets: [{ name: 'billing', url: targetUrl, events: ['*'], retry: { schedule: [250, 500, 1_000, 2_000, 2_000, 2_000] } }],
  });
  const file = join(directory, `${name}.yaml`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  return { file, port };
}

const deliveredIds = (server: TargetServer) => new Set(server.requests.map((request) => String(request.headers['webhook-id'])));
const percentile = (values: number[], share: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(share * values.length))] ?? 0;

describe('a Redis outage three times longer than ZEGO retries', () => {
  it('loses nothing: every callback acknowledged within the budget, every one delivered once Redis is back', async () => {
    const redis = await startRedisServer({ appendfsync: 'always' });
    cleanups.push(() => redis.stop());
    const billing = await target();
    const { file, port } = await configFile('outage', redis.url, billing.url);
    const relay = await startRelayCli({ configFile: file, redisUrl: redis.url });
    cleanups.push(() => relay.kill());
    const sender = new ZegoSender({ url: `http://127.0.0.1:${port}/zego/callback`, appId: APP_ID, secret: SECRET, events: ['mix_stop', 'mix_start'], retryScale: RETRY_SCALE });

    // A callback every 100 ms for 24 s; Redis is gone from 2 s to 2 s + 18.6 s.
    const sending = sender.run(240, 10);
    const started = Date.now();
    await sleep(2_000);
    await redis.kill();
    await sleep(Math.max(0, started + 2_000 + OUTAGE_MS - Date.now()));
    await redis.restart();
    await sending;

    const sent = [...sender.callbacks.values()];
    const unanswered = sent.filter((callback) => callback.acknowledgedId === undefined);
    const tries = unanswered.flatMap((callback) => callback.tries.map((attempt) => `${attempt.answer}@${attempt.at! - started}ms`));
    expect(unanswered.map((callback) => callback.key), `tries: ${tries.join(' ')}\nrelay: ${relay.output()}`).toEqual([]);
    const acknowledged = new Set(sent.map((callback) => callback.acknowledgedId!));
    await expect.poll(() => [...acknowledged].filter((id) => !deliveredIds(billing).has(id)), { timeout: 30_000 }).toEqual([]);
    expect(relay.hasExited()).toBe(false);

    const firstAnswers = sent.map((callback) => callback.tries.find((attempt) => attempt.answer === 200)!);
    const spooled = firstAnswers.filter((attempt) => attempt.spooled);
    const direct = firstAnswers.filter((attempt) => !attempt.spooled);
    // Well over a third of the run fell into the outage: the spool answered those.
    expect(spooled.length).toBeGreaterThan(sent.length / 3);
    const deliveries = billing.requests.length;
    console.log(`spool outage: ${JSON.stringify({
      budgetMs: BUDGET_MS, outageMs: OUTAGE_MS, sent: sent.length, acknowledged: acknowledged.size, delivered: deliveredIds(billing).size,
      duplicateDeliveries: deliveries - deliveredIds(billing).size, answers: Object.fromEntries(sender.answers()),
      spooledAnswers: spooled.length, spooledMs: { p50: percentile(spooled.map((a) => a.ms!), 0.5), p99: percentile(spooled.map((a) => a.ms!), 0.99) },
      directMs: { p50: percentile(direct.map((a) => a.ms!), 0.5), p99: percentile(direct.map((a) => a.ms!), 0.99) },
    })}`);
  }, 90_000);
});

describe('the relay SIGKILLed while Redis is down', () => {
  it('keeps what its spool acknowledged across a restart without Redis, and delivers all of it once Redis comes', async () => {
    const redisPort = await freePort();
    const redisUrl = `redis://127.0.0.1:${redisPort}`;
    const billing = await target();
    const { file, port } = await configFile('sigkill', redisUrl, billing.url);
    const start = async () => {
      const relay = spawnCli(['start', '--config', file], { env: { REDIS_URL: redisUrl, LOG_LEVEL: 'info' }, timeoutMs: 120_000 });
      cleanups.push(async () => {
        relay.child.kill('SIGKILL');
        await relay.exited;
      });
      await relay.waitFor(/"msg":"receiver listening"/);
      return relay;
    };
    const post = async () => {
      const response = await fetch(`http://127.0.0.1:${port}/zego/callback`, { method: 'POST', body: jsonBody(sign(mixStopFields())), headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(3_000) });
      return { status: response.status, body: (await response.json()) as { id: string; spooled?: boolean } };
    };

    const first = await start();
    const acknowledged: string[] = [];
    let sending = true;
    const sender = async () => {
      while (sending) {
        const answer = await post().catch(() => undefined);
        if (answer?.status !== 200) continue;
        expect(answer.body.spooled).toBe(true);
        acknowledged.push(answer.body.id);
      }
    };
    const senders = [sender(), sender(), sender(), sender()];
    await expect.poll(() => acknowledged.length, { timeout: 15_000 }).toBeGreaterThanOrEqual(40);
    // Mid-stream: requests are in flight while it dies.
    first.child.kill('SIGKILL');
    await first.exited;
    sending = false;
    await Promise.all(senders);

    const second = await start();
    expect(second.output.stdout).toContain('the spool holds callbacks from the last run');
    for (let index = 0; index < 10; index += 1) {
      const answer = await post();
      expect(answer.body.spooled).toBe(true);
      acknowledged.push(answer.body.id);
    }
    const redis = await startRedisServer({ port: redisPort, appendfsync: 'always' });
    cleanups.push(() => redis.stop());
    await expect.poll(() => acknowledged.filter((id) => !deliveredIds(billing).has(id)), { timeout: 30_000 }).toEqual([]);
    console.log(`spool across SIGKILL: ${JSON.stringify({ acknowledged: acknowledged.length, delivered: deliveredIds(billing).size, deliveries: billing.requests.length })}`);
  }, 90_000);
});
