/**
 * Chaos: a ZEGO-like sender pushes a stream of callbacks (with ZEGO's retries, scaled down, and
 * deliberate re-sends) at the relay running as `zego-relay start --role all` in a child process,
 * while the relay is SIGKILLed and restarted twice, a second worker-role process (a router with
 * a batch in hand) is SIGKILLed, Redis (AOF, appendfsync always) is SIGKILLed
 * and restarted, one target is down for a stretch, one fails 30% of tries and one answers slower
 * than its timeout. Then: every acknowledged callback reached every matching target, byte-exact,
 * under one webhook-id; nothing reached a target that the sender did not send; the duplicate rate
 * is printed (and written to CHAOS_REPORT_FILE when set, for docs/RELIABILITY.md).
 *
 * Runs the compiled CLI, built by test/global-setup.ts.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelayCli, type RelayCli } from '../../bench/lib/relay-cli.js';
import type { RelayConfig } from '../../src/config/load.js';
import { freePort, startRedisServer, type RedisServer } from '../../src/dev/redis-process.js';
import { intakePendingCount } from '../../src/intake/stats.js';
import { closeQueues, openQueues } from '../../src/redis/queues.js';
import { createWorkerConnection } from '../../src/redis/connection.js';
import { APP_ID, SECRET, parseTestConfig, testConfigObject } from '../helpers/config.js';
import { startTargetServer, type Reply, type Responder, type TargetServer } from '../helpers/targets.js';
import { callbackKey, ZegoSender } from '../helpers/zego-sender.js';

const CALLBACKS = 1_000;
const PER_SECOND = 40;
const SLOW_TIMEOUT_MS = 300;
/** Every target's retries reach about 16 s: longer than any outage below. */
const RETRY = { schedule: [250, 500, 1_000, 2_000, 2_000, 2_000, 2_000, 2_000, 2_000, 2_000], jitter: 0.2 };

const directory = mkdtempSync(join(tmpdir(), 'zego-relay-chaos-'));
const relays: RelayCli[] = [];
/** Processes that are not the main relay (the extra worker-role process). */
const others: RelayCli[] = [];
const targets: TargetServer[] = [];
let redis: RedisServer | undefined;

beforeAll(() => {
});
afterAll(async () => {
  await Promise.all([...relays, ...others].map((relay) => relay.kill()));
  await Promise.all(targets.map((target) => target.close()));
  await redis?.stop();
  rmSync(directory, { recursive: true, force: true });
});

/** Callbacks in the intake log plus delivery jobs not yet completed or failed. */
async function pendingWork(config: RelayConfig): Promise<number> {
  const connection = createWorkerConnection(config.redis, 'test-pending');
  connection.on('error', () => {});
  const queues = openQueues(config, connection);
  try {
    let pending = await intakePendingCount(connection, config);
    for (const queue of queues.values()) {
      const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      pending += Object.values(counts).reduce((sum, count) => sum + count, 0);
    }
    return pending;
  } finally {
    await closeQueues(queues, connection, 'quit');
  }
}

/** A target whose every request is paired with whether it really answered 2xx to the relay. */
interface RecordingTarget {
  server: TargetServer;
  /** Parallel to server.requests: true when the reply was a 2xx written before the relay gave up. */
  delivered: boolean[];
}

async function recordingTarget(decide: Responder, timeoutMs = Infinity): Promise<RecordingTarget> {
  const delivered: boolean[] = [];
  const server = await startTargetServer((request, index) => {
    const reply: Reply = decide(request, index);
    delivered[index] = 'status' in reply && reply.status < 300 && (reply.delayMs ?? 0) < timeoutMs;
    return reply;
  });
  targets.push(server);
  return { server, delivered };
}

describe('chaos: relay and Redis killed, targets down, flaky and slow', () => {
  it('delivers every acknowledged callback to every matching target, nothing else, and reports duplicates', async () => {
    redis = await startRedisServer({ appendfsync: 'always' });
    const steady = await recordingTarget(() => ({ status: 200 }));
    const outage = await recordingTarget(() => ({ status: 200 }));
    const flaky = await recordingTarget(() => ({ status: Math.random() < 0.3 ? 500 : 200 }));
    // Slower than its timeout on the first try of every callback, and on a quarter of the later ones.
    const firstSeen = new Set<string>();
    const slow = await recordingTarget((request) => {
      const id = String(request.headers['webhook-id']);
      const first = !firstSeen.has(id);
      firstSeen.add(id);
      return { status: 200, ...(first || Math.random() < 0.25 ? { delayMs: 2 * SLOW_TIMEOUT_MS } : {}) };
    }, SLOW_TIMEOUT_MS);
    const routes = { steady: ['*'], outage: ['mix_stop'], flaky: ['*'], slow: ['mix_start'] } as const;
    const byName = { steady, outage, flaky, slow };

    const [serverPort, adminPort] = [await freePort(), await freePort()];
    const configFile = join(directory, 'relay.yaml');
    const relayConfig = testConfigObject({
      redisUrl: redis.url,
      prefix: `chaos-${randomUUID()}`,
      serverPort,
      adminPort,
      delivery: { lockDuration: '3s', stalledInterval: '1s', shutdownTimeout: '1s' },
      // A killed router's batch is claimed by another router after this.
      intake: { claimAfter: '2s', batchSize: 20 },
      targets: Object.entries(routes).map(([name, events]) => ({
        name, url: byName[name as keyof typeof byName].server.url, events, retry: RETRY,
        concurrency: 10, timeout: name === 'slow' ? SLOW_TIMEOUT_MS : '2s',
      })),
    });
    writeFileSync(configFile, JSON.stringify(relayConfig, null, 2));
    // The extra worker-role process needs an admin listener of its own.
    const workerConfigFile = join(directory, 'worker.yaml');
    writeFileSync(workerConfigFile, JSON.stringify({ ...relayConfig, admin: { host: '127.0.0.1', port: await freePort() } }, null, 2));
    const startRelay = async () => {
      const relay = await startRelayCli({ configFile, redisUrl: redis!.url });
      relays.push(relay);
      return relay;
    };
    /** SIGKILL, then a new relay process at once, as a supervisor would. */
    const crashRelay = async () => {
      await relays.at(-1)!.kill('SIGKILL');
      await startRelay();
    };

    await startRelay();
    // A second router (and set of workers), as docker-compose's scaled `worker` service runs them.
    const extraWorker = await startRelayCli({ configFile: workerConfigFile, redisUrl: redis.url, role: 'worker' });
    others.push(extraWorker);
    const sender = new ZegoSender({
      url: `http://127.0.0.1:${serverPort}/zego/callback`, appId: APP_ID, secret: SECRET, events: ['mix_stop', 'mix_start'],
    });
    const sending = sender.run(CALLBACKS, PER_SECOND);
    const chaosStarted = Date.now();
    const at = async (seconds: number) => sleep(Math.max(0, chaosStarted + seconds * 1000 - Date.now()));

    await at(2.5);
    await outage.server.down();
    await at(4);
    await crashRelay();
    await at(7);
    await extraWorker.kill('SIGKILL');
    await at(9);
    await outage.server.up();
    await at(11);
    await redis.kill();
    await sleep(1_000);
    await redis.restart();
    await at(17);
    await crashRelay();
    await sending;

    // Every acknowledged callback at every matching target (a 2xx written), within the retries' reach.
    const matches = (name: keyof typeof routes, event: string) => (routes[name] as readonly string[]).some((pattern) => pattern === '*' || pattern === event);
    const acknowledged = [...sender.callbacks.values()].filter((sent) => sent.acknowledgedId !== undefined);
    const missing = () => {
      const gaps: string[] = [];
      for (const [name, target] of Object.entries(byName)) {
        const deliveredKeys = new Set(target.server.requests.filter((_, index) => target.delivered[index]).map((request) => callbackKey(request.body)));
        for (const sent of acknowledged) {
          if (matches(name as keyof typeof routes, sent.event) && !deliveredKeys.has(sent.key)) gaps.push(`${name}:${sent.key}`);
        }
      }
      return gaps;
    };
    const deadline = Date.now() + 40_000;
    while (missing().length > 0 && Date.now() < deadline) await sleep(250);
    expect(missing(), relays.at(-1)!.output()).toEqual([]);
    // Nothing left to route or deliver: no request can still come, so the checks below see all of them.
    const config = parseTestConfig(relayConfig, configFile);
    await expect.poll(() => pendingWork(config), { timeout: 30_000, interval: 250 }).toBe(0);

    // Only the relay's own SIGKILLs ended a relay process: no crash of its own.
    expect(relays.slice(0, -1).map((relay) => relay.hasExited())).toEqual([true, true]);
    expect(relays.at(-1)!.hasExited()).toBe(false);

    // Nothing else: each request is a callback the sender sent, to a target it is routed to, with
    // the bytes of one of its tries, under the one id the receiver gave it.
    const idOfKey = new Map<string, string>();
    for (const [name, target] of Object.entries(byName)) {
      for (const request of target.server.requests) {
        const key = callbackKey(request.body);
        const sent = key === undefined ? undefined : sender.callbacks.get(key);
        expect(sent, `${name} got a callback nobody sent: ${request.body.toString().slice(0, 200)}`).toBeDefined();
        expect(matches(name as keyof typeof routes, sent!.event)).toBe(true);
        expect(sent!.tries.some((attempt) => attempt.body === request.body.toString())).toBe(true);
        expect(Buffer.from(request.body.toString()).equals(request.body)).toBe(true);
        const webhookId = String(request.headers['webhook-id']);
        expect(webhookId).toBe(idOfKey.get(sent!.key) ?? sent!.acknowledgedId ?? webhookId);
        idOfKey.set(sent!.key, webhookId);
      }
    }
    // Re-sends of acknowledged callbacks are recognized as such, across both crashes.
    const resendAnswers = [...sender.callbacks.values()].flatMap((sent) => sent.tries.filter((attempt) => attempt.resend && attempt.answer === 200).map((attempt) => ({ sent, attempt })));
    expect(resendAnswers.length).toBeGreaterThan(0);
    for (const { sent, attempt } of resendAnswers) {
      expect(attempt.duplicate).toBe(true);
      expect(attempt.id).toBe(sent.acknowledgedId);
    }

    const report = chaosReport(sender, acknowledged.length, byName);
    console.log(`chaos report: ${JSON.stringify(report)}`);
    if (process.env.CHAOS_REPORT_FILE) writeFileSync(process.env.CHAOS_REPORT_FILE, `${JSON.stringify(report, null, 2)}\n`);
  }, 110_000);
});

/** The figures docs/RELIABILITY.md quotes. A duplicate: a 2xx delivery of a callback the target had already taken. */
function chaosReport(sender: ZegoSender, acknowledged: number, byName: Record<string, RecordingTarget>) {
  const perTarget = Object.fromEntries(Object.entries(byName).map(([name, target]) => {
    const counts = new Map<string, number>();
    target.server.requests.forEach((request, index) => {
      if (!target.delivered[index]) return;
      const id = String(request.headers['webhook-id']);
      counts.set(id, (counts.get(id) ?? 0) + 1);
    });
    const delivered = [...counts.values()].reduce((sum, count) => sum + count, 0);
    const duplicates = delivered - counts.size;
    return [name, { requests: target.server.requests.length, callbacks: counts.size, duplicates, duplicateRate: Number((duplicates / Math.max(1, counts.size)).toFixed(4)) }];
  }));
  const sent = sender.callbacks.size;
  const totals = Object.values(perTarget).reduce((sum, target) => ({ callbacks: sum.callbacks + target.callbacks, duplicates: sum.duplicates + target.duplicates }), { callbacks: 0, duplicates: 0 });
  return {
    measuredAt: new Date().toISOString(),
    scenario: `${sent} callbacks at ${PER_SECOND}/s; relay SIGKILLed twice, a second router/worker process SIGKILLed once, Redis SIGKILLed once (AOF always), one target down ~6.5 s, one failing 30%, one slower than its timeout`,
    sent,
    acknowledged,
    neverAcknowledged: sent - acknowledged,
    senderAnswers: Object.fromEntries(sender.answers()),
    duplicateRate: Number((totals.duplicates / Math.max(1, totals.callbacks)).toFixed(4)),
    targets: perTarget,
  };
}
