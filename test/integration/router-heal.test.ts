/**
 * The router heals itself: a consumer group Redis lost (FLUSHALL, a restart without persistence)
 * is created again; an entry that can never be routed is set aside while the rest of its batch is
 * delivered; a batch whose fan-out fails stays pending, unacknowledged, and is routed within
 * seconds once the fault is mended, without waiting for another router's claim.
 */
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { poisonedCommand } from '../../src/cli/poisoned.js';
import { startWorkers } from '../../workers/role.js';
import type { RelayConfig } from '../../src/config/load.js';
import { startReceiver } from '../../src/receive/server.js';
import { startRouter } from '../../workers/route/router.js';
import { intakePoisoned, registry } from '../../src/shared/metrics.js';
import { ROUTER_GROUP, deliveryQueueName, intakeKeys, queuePrefix } from '../../src/shared/names.js';
import { listPoisoned } from '../../src/intake/poisoned-entries.js';
import { testConfig } from '../helpers/config.js';
import { capturingLogger } from '../helpers/log-capture.js';
import { startRedisServer, useTestRedis, type RedisServer } from '../helpers/redis.js';
import { routerHarness } from '../helpers/router.js';
import { startTargetServer, type TargetServer } from '../helpers/targets.js';
import { jsonBody, mixStopFields, sign } from '../helpers/zego.js';

const redis = useTestRedis();
const { configFor, storeCallbacks, openQueue, jobIds, drained } = routerHarness(redis);

async function target(): Promise<TargetServer> {
  const server = await startTargetServer();
  redis.cleanup(() => server.close());
  return server;
}

/** Receiver and worker role in this process, on a Redis of the test's own. */
async function relayOn(server: RedisServer, targetUrl: string) {
  const config = testConfig({ redisUrl: server.url, targets: [{ name: 'billing', url: targetUrl }] });
  const { logger, lines } = capturingLogger('info');
  const workers = await startWorkers(config, { logger });
  redis.cleanup(() => workers.close());
  const receiver = await startReceiver(config, { logger });
  redis.cleanup(() => receiver.close());
  /** Sends `count` callbacks, each until it is answered 200 (503 while the receiver reconnects). */
  const send = async (count: number) => {
    const ids: string[] = [];
    for (let index = 0; index < count; index += 1) {
      const body = jsonBody(sign(mixStopFields()));
      const answer = async () => {
        const response = await fetch(`http://127.0.0.1:${receiver.port}/zego/callback`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
        return response.status === 200 ? ((await response.json()) as { id: string }).id : undefined;
      };
      let id = await answer();
      const deadline = Date.now() + 10_000;
      while (id === undefined && Date.now() < deadline) {
        await sleep(100);
        id = await answer();
      }
      expect(id).toBeDefined();
      ids.push(id!);
    }
    return ids;
  };
  return { send, lines };
}

const deliveredIds = (server: TargetServer) => new Set(server.requests.map((request) => String(request.headers['webhook-id'])));
const recreated = 'the intake stream or its consumer group was gone (Redis lost its data: a restart without persistence, FLUSHALL, a failover to an empty replica); created it again, routing from the start of the stream';

/**
 * A relay that delivers; then Redis loses everything (`lose`); then 20 callbacks stored after it
 * must be delivered within 15 s, and the router says once that it created its group again.
 */
async function recoversFrom(lose: (server: RedisServer) => Promise<void>): Promise<void> {
  const server = await startRedisServer();
  redis.cleanup(() => server.stop());
  const billing = await target();
  const { send, lines } = await relayOn(server, billing.url);
  const before = await send(3);
  await expect.poll(() => deliveredIds(billing), { timeout: 10_000 }).toEqual(new Set(before));

  await lose(server);
  const after = await send(20);
  await expect.poll(() => [...deliveredIds(billing)].filter((id) => after.includes(id)).length, { timeout: 15_000 }).toBe(20);
  expect(lines.filter((line) => line.msg === recreated)).toHaveLength(1);
}

describe('when Redis lost the intake stream and its consumer group', () => {
  it('after FLUSHALL, creates them again and delivers the callbacks stored after it within 15 s, saying so once', async () => {
    await recoversFrom(async (server) => {
      const client = new Redis(server.url);
      await client.flushall();
      client.disconnect();
    });
  });

  it('after a restart of a Redis without persistence, does the same', async () => {
    await recoversFrom(async (server) => {
      await server.kill();
      await server.restart();
    });
  });
});

describe('an intake entry that cannot be routed', () => {
  it('is set aside, listed and counted, while the good ones of its batch are delivered within 20 s', async () => {
    const billing = await target();
    const { config, file } = configFor({ intake: { batchSize: 50 }, targets: [{ name: 'billing', url: billing.url, events: ['*'] }] });
    const stream = intakeKeys(config.redis.prefix, 0).stream;
    const good = await storeCallbacks(config, 10);
    // Written by someone else: BullMQ refuses an integer job id ("Custom Id cannot be integers").
    const badEntry = await redis.inspector.xadd(stream, '*', 'id', '777', 'event', 'mix_stop', 'app', '111111', 'body', '{}', 'at', String(Date.now()));
    good.push(...(await storeCallbacks(config, 10)));
    const poisonedBefore = (await intakePoisoned.get()).values[0]?.value ?? 0;

    const { logger, lines } = capturingLogger('info');
    const workers = await startWorkers(config, { logger });
    redis.cleanup(() => workers.close());
    await expect.poll(() => deliveredIds(billing), { timeout: 20_000 }).toEqual(new Set(good));
    await drained(config);

    const [aside] = await listPoisoned(redis.inspector, config.redis.prefix, 10);
    expect(aside).toMatchObject({ shard: 0, entryId: badEntry, reason: 'its id "777" is not a callback id (cb_ and letters, digits, _ or -)' });
    expect(aside!.fields).toEqual(['id', '777', 'event', 'mix_stop', 'app', '111111', 'body', '{}', 'at', expect.any(String)]);
    expect((await intakePoisoned.get()).values[0]?.value).toBe(poisonedBefore + 1);
    expect(await registry.getSingleMetricAsString('zego_relay_intake_poisoned_total')).toContain('zego_relay_intake_poisoned_total');
    const setAside = lines.filter((line) => line.msg.startsWith('an intake entry cannot be routed'));
    expect(setAside).toHaveLength(1);
    expect(setAside[0]).toMatchObject({ level: 50, component: 'router', shard: 0, entryId: badEntry, reason: expect.stringContaining('"777"') });

    let out = '';
    const stdout = new Writable({ write: (chunk, _encoding, done) => { out += String(chunk); done(); } });
    const code = await poisonedCommand.run(['--config', file], { stdout, stderr: stdout, env: {}, logger: () => { throw new Error('no logger'); } });
    expect(code).toBe(0);
    expect(out).toContain(`shard 0  entry ${badEntry}  its id "777" is not a callback id`);
    expect(out).toContain('id="777" event="mix_stop"');
  });
});

describe('a batch whose fan-out fails', () => {
  /** A value in the queue's job-id counter that INCR refuses: every addBulk to it fails in Redis. */
  const breakQueue = (config: RelayConfig) => redis.inspector.set(`${queuePrefix(config.redis.prefix, deliveryQueueName('billing'))}:${deliveryQueueName('billing')}:id`, 'not-a-number');
  const mendQueue = (config: RelayConfig) => redis.inspector.del(`${queuePrefix(config.redis.prefix, deliveryQueueName('billing'))}:${deliveryQueueName('billing')}:id`);
  /** The intake entries pending in the group (taken by a router, not acknowledged). */
  const pending = async (config: RelayConfig) => (await redis.inspector.xpending(intakeKeys(config.redis.prefix, 0).stream, ROUTER_GROUP, '-', '+', 100)) as unknown[];

  async function failingRouter() {
    // claimAfter far beyond the test: nothing but the router's own re-read can route the batch.
    const { config } = configFor({ intake: { claimAfter: '60s' }, targets: [{ name: 'billing', events: ['*'], retry: { schedule: ['1h'] } }] });
    const ids = await storeCallbacks(config, 10);
    await breakQueue(config);
    const { logger, lines } = capturingLogger('info');
    const router = startRouter(config, { logger });
    redis.cleanup(() => router.close());
    // Proof that the fan-out was tried, and failed.
    await expect.poll(() => lines.map((line) => line.msg), { timeout: 10_000 }).toContain('router cannot route; callbacks wait in the intake log');
    return { config, ids };
  }

  it('leaves its entries pending in the intake, unacknowledged, while it fails', async () => {
    const { config } = await failingRouter();
    expect(await redis.inspector.xlen(intakeKeys(config.redis.prefix, 0).stream)).toBe(10);
    expect(await pending(config)).toHaveLength(10);
    expect(await jobIds(openQueue(config, deliveryQueueName('billing')))).toEqual([]);
  });

  it('is routed by the same router within 5 s once the fault is mended, not after claimAfter', async () => {
    const { config, ids } = await failingRouter();
    await mendQueue(config);
    await expect.poll(async () => new Set(await jobIds(openQueue(config, deliveryQueueName('billing')))), { timeout: 5_000 }).toEqual(new Set(ids));
    await drained(config);
  });
});
