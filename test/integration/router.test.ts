/**
 * The router stage: intake log -> each matching target's queue, with a consumer group so several
 * routers share the work, and XAUTOCLAIM so a router that died mid-batch loses nothing.
 */
import { describe, expect, it } from 'vitest';
import { deliveryJobOptions } from '../../workers/route/job-options.js';
import { silentLogger } from '../../src/lib/logger.js';
import { startReceiver } from '../../src/receive/server.js';
import { entriesOfRead } from '../../workers/route/intake-entry.js';
import { intakePendingCount } from '../../src/intake/stats.js';
import { ROUTER_GROUP, intakeKeys, UNROUTED_QUEUE, deliveryQueueName } from '../../src/shared/names.js';
import { startWorkers } from '../../workers/role.js';
import { useTestRedis } from '../helpers/redis.js';
import { routerHarness } from '../helpers/router.js';
import { startTargetServer } from '../helpers/targets.js';
import { APP_ID } from '../helpers/config.js';
import { jsonBody, mixStopFields, sign } from '../helpers/zego.js';

const redis = useTestRedis();
const { configFor, storeCallbacks, openQueue, jobIds, routerRunning, drained } = routerHarness(redis);

describe('the router', () => {
  it.each([
    ['off', false],
    ['on', true],
  ])('queues each callback for every matching target (or unrouted) with its data, then deletes it from the intake (first attempts by the router %s)', async (_label, direct) => {
    const { config } = configFor({
      targets: [
        { name: 'billing', events: ['mix_*'], retry: { schedule: ['1h'] }, directFirstAttempt: direct },
        { name: 'audit', events: ['*'], appIds: [APP_ID], retry: { schedule: ['1h'] }, directFirstAttempt: direct },
      ],
    });
    // Stored once the router is ready: until it has read the targets' state it attempts nothing.
    await routerRunning(config);
    const mixStops = await storeCallbacks(config, 3);
    const [roomLogin] = await storeCallbacks(config, 1, 'room_login');
    const [otherApp] = await storeCallbacks(config, 1, 'stream_create', '222222');
    await drained(config);

    expect((await jobIds(openQueue(config, deliveryQueueName('billing')))).sort()).toEqual([...mixStops].sort());
    expect((await jobIds(openQueue(config, deliveryQueueName('audit')))).sort()).toEqual([...mixStops, roomLogin].sort());
    expect(await jobIds(openQueue(config, UNROUTED_QUEUE))).toEqual([otherApp]);
    const job = await openQueue(config, deliveryQueueName('billing')).getJob(mixStops[0]!);
    expect(job?.name).toBe('mix_stop');
    // When the receiver acknowledged it: end-to-end latency is measured from there.
    // On, the router tried it first (nothing listens on port 9): the job counts that attempt.
    expect(job?.data).toEqual({
      callbackId: mixStops[0], event: 'mix_stop', appId: '111111', body: JSON.stringify({ event: 'mix_stop', id: mixStops[0] }), receivedAt: 1_700_000_000_000,
      ...(direct ? { attempts: 1 } : {}),
    });
    // One BullMQ attempt: the worker schedules each retry itself (workers/deliver/progress.ts).
    expect(job?.opts.attempts).toBe(1);
  });

  it('shares the intake between two routers: every callback routed, none twice', async () => {
    const { config } = configFor({ targets: [{ name: 'billing', url: 'http://127.0.0.1:9/', events: ['*'], retry: { schedule: ['1h'] } }] });
    await routerRunning(config);
    await routerRunning(config);
    const ids = await storeCallbacks(config, 600);
    await drained(config);
    const queued = await jobIds(openQueue(config, deliveryQueueName('billing')));
    expect(queued.length).toBe(ids.length);
    expect(new Set(queued)).toEqual(new Set(ids));
  });

  it("takes over a dead router's batch after claimAfter, without a second job for what it had queued", async () => {
    const { config } = configFor({ targets: [{ name: 'billing', url: 'http://127.0.0.1:9/', events: ['*'], retry: { schedule: ['1h'] } }] });
    const ids = await storeCallbacks(config, 40);
    const stream = intakeKeys(config.redis.prefix, 0).stream;
    // A router that read the whole batch, queued the first half, and died before acknowledging.
    await redis.inspector.xgroup('CREATE', stream, ROUTER_GROUP, '0', 'MKSTREAM');
    const taken = entriesOfRead(await redis.inspector.xreadgroup('GROUP', ROUTER_GROUP, 'dead-router', 'COUNT', 100, 'STREAMS', stream, '>'));
    expect(taken).toHaveLength(40);
    const billing = openQueue(config, deliveryQueueName('billing'));
    const target = config.targets[0]!;
    await billing.addBulk(taken.slice(0, 20).map(({ data }) => ({ name: data!.event, data: data!, opts: { ...deliveryJobOptions(target, config.retention), jobId: data!.callbackId } })));

    await routerRunning(config);
    await drained(config);
    const queued = await jobIds(billing);
    expect(queued.length).toBe(ids.length);
    expect(new Set(queued)).toEqual(new Set(ids));
  });

});

describe('de-duplication does not depend on job retention', () => {
  it('answers a re-send duplicate after the delivered job was trimmed, and delivers once', async () => {
    const target = await startTargetServer();
    redis.cleanup(() => target.close());
    // completedCount 0: a delivered job is removed at once; the seen marker lives on its own.
    const { config } = configFor({ retention: { completedCount: 0 }, targets: [{ name: 'billing', url: target.url, events: ['*'] }] });
    const receiver = await startReceiver(config, { logger: silentLogger });
    redis.cleanup(() => receiver.close());
    const workers = await startWorkers(config, { logger: silentLogger });
    redis.cleanup(() => workers.close());
    const post = async (body: string) =>
      (await fetch(`http://127.0.0.1:${receiver.port}${config.server.callbackPath}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).json() as Promise<{ id: string; duplicate: boolean }>;

    const fields = mixStopFields();
    const first = await post(jsonBody(sign(fields)));
    expect(first.duplicate).toBe(false);
    await target.waitForRequests(1);
    const billing = openQueue(config, deliveryQueueName('billing'));
    await expect.poll(async () => (await billing.getJob(first.id)) === undefined).toBe(true);

    expect(await post(jsonBody(sign(fields)))).toEqual({ ok: true, id: first.id, duplicate: true });
    // Nothing new in the intake and nothing queued: the re-send cannot become a second delivery.
    expect(await intakePendingCount(redis.inspector, config)).toBe(0);
    expect(await billing.getJobCounts('waiting', 'active', 'delayed')).toEqual({ waiting: 0, active: 0, delayed: 0 });
    expect(target.requests).toHaveLength(1);
  });
});
