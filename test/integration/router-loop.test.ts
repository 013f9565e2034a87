/**
 * The router's read-route-acknowledge loop (workers/route/router.ts) beyond what it routes: its
 * connections and consumers, how often it claims stale entries, what it logs and when, a refused
 * acknowledgement, a group lost under a blocked read, and close(). On a Redis of the file's own:
 * the tests read what the whole server sees (CLIENT LIST, INFO commandstats).
 */
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { RelayConfig } from '../../src/config/load.js';
import { callbacksUnrouted, registry } from '../../src/shared/metrics.js';
import { ROUTER_GROUP, UNROUTED_QUEUE, deliveryQueueName, intakeKeys, queuePrefix } from '../../src/shared/names.js';
import { startRouter, type IntakeRouter } from '../../workers/route/router.js';
import { capturingLogger, type LogLine } from '../helpers/log-capture.js';
import { keyName, storeKeyed } from '../helpers/ordering.js';
import { useTestRedis } from '../helpers/redis.js';
import { routerHarness } from '../helpers/router.js';
import { startTargetServer, type TargetServer } from '../helpers/targets.js';

const redis = useTestRedis({ own: true });
const { configFor, storeCallbacks, openQueue, jobIds, drained } = routerHarness(redis);

type Line = LogLine & { component?: string; shard?: number; entries?: number; stream?: string; err?: { message?: string; command?: unknown } };
const WARN = 40;
const CANNOT_ROUTE = 'router cannot route; callbacks wait in the intake log';
const CLAIMED = 'claimed callbacks another router took but did not route';
const RECREATED = 'the intake stream or its consumer group was gone (Redis lost its data: a restart without persistence, FLUSHALL, a failover to an empty replica); created it again, routing from the start of the stream';

/** A router logging to lines the test reads; closed after the test unless the test closed it. */
async function loggedRouter(config: RelayConfig, consumer?: string): Promise<{ router: IntakeRouter; lines: Line[] }> {
  const { logger, lines } = capturingLogger('debug');
  const router = startRouter(config, { logger, ...(consumer ? { consumer } : {}) });
  let closed: Promise<void> | undefined;
  const close = () => (closed ??= router.close());
  redis.cleanup(close);
  await router.ready();
  return { router: { ready: () => router.ready(), close }, lines: lines as Line[] };
}

async function target(respond?: Parameters<typeof startTargetServer>[0]): Promise<TargetServer> {
  const server = await startTargetServer(respond);
  redis.cleanup(() => server.close());
  return server;
}

/** The names of the relay's connections the server sees (CLIENT LIST). */
async function connectionNames(): Promise<string[]> {
  const list = String(await redis.inspector.client('LIST'));
  return [...list.matchAll(/ name=(zego-relay:\S+)/g)].map((match) => match[1]!).sort();
}

/** How many times the server ran `command` (INFO commandstats). */
async function calls(command: string): Promise<number> {
  const info = await redis.inspector.info('commandstats');
  return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
}

/** A histogram's `_count` or `_sum` (the registry is the process's: compare before and after). */
async function histogram(name: string, part: 'count' | 'sum'): Promise<number> {
  const { values } = await registry.getSingleMetric(name)!.get();
  return values.find((value) => (value as { metricName?: string }).metricName === `${name}_${part}`)?.value ?? 0;
}

const withMessage = (lines: Line[], msg: string) => lines.filter((line) => line.msg === msg);

/** zego_relay_callbacks_unrouted_total for `event`. */
async function unroutedCount(event: string): Promise<number> {
  const { values } = await callbacksUnrouted.get();
  return values.find((value) => value.labels.event === event)?.value ?? 0;
}

describe('a router starting', () => {
  it("creates every shard's group before ready(), names its connections, and reads as one consumer per lane", async () => {
    const { config } = configFor({ intake: { shards: 2 }, targets: [{ name: 'billing', directFirstAttempt: false, retry: { schedule: ['1h'] } }] });
    const { router, lines } = await loggedRouter(config, 'c1');
    for (const shard of [0, 1]) {
      const groups = (await redis.inspector.xinfo('GROUPS', intakeKeys(config.redis.prefix, shard).stream)) as unknown[][];
      expect(groups.map((group) => group[1])).toEqual([ROUTER_GROUP]);
    }
    expect(await connectionNames()).toEqual(['zego-relay:router-queues', 'zego-relay:router:0', 'zego-relay:router:0', 'zego-relay:router:1', 'zego-relay:router:1']);
    const ids = await storeCallbacks(config, 40);
    await expect.poll(async () => (await jobIds(openQueue(config, deliveryQueueName('billing')))).length).toBe(40);
    expect((await jobIds(openQueue(config, deliveryQueueName('billing')))).sort()).toEqual(ids.sort());
    // Two lanes per shard, each its own consumer (c1:0, c1:1): a lane re-reading its pending
    // entries gets only its own. Redis lists a consumer once it was handed an entry.
    const consumers = new Set<unknown>();
    for (const shard of [0, 1]) {
      const stream = intakeKeys(config.redis.prefix, shard).stream;
      for (const consumer of (await redis.inspector.xinfo('CONSUMERS', stream, ROUTER_GROUP)) as unknown[][]) consumers.add(consumer[1]);
    }
    expect(consumers.size).toBeGreaterThan(0);
    expect([...consumers].every((name) => name === 'c1:0' || name === 'c1:1')).toBe(true);
    expect(lines.filter((line) => line.level >= WARN)).toEqual([]);

    await router.close();
    await expect.poll(connectionNames).toEqual([]);
  });

  it('names its consumers host-pid-random:lane unless told', async () => {
    const { config } = configFor({ targets: [{ name: 'billing', directFirstAttempt: false, retry: { schedule: ['1h'] } }] });
    await loggedRouter(config);
    await storeCallbacks(config, 40);
    await drained(config);
    const consumers = (await redis.inspector.xinfo('CONSUMERS', intakeKeys(config.redis.prefix, 0).stream, ROUTER_GROUP)) as unknown[][];
    expect(consumers.length).toBeGreaterThan(0);
    for (const consumer of consumers) expect(consumer[1]).toMatch(new RegExp(`^${hostname()}-${process.pid}-[0-9a-f]{8}:[01]$`));
  });

  it('is not ready while Redis refuses its group, and starts once it can', async () => {
    const { config } = configFor({ targets: [{ name: 'billing', directFirstAttempt: false, retry: { schedule: ['1h'] } }] });
    const stream = intakeKeys(config.redis.prefix, 0).stream;
    // A key of the wrong type where the stream belongs: XGROUP CREATE answers WRONGTYPE.
    await redis.inspector.set(stream, 'not a stream');
    const { logger, lines } = capturingLogger('debug');
    const router = startRouter(config, { logger });
    redis.cleanup(() => router.close());
    let ready = false;
    const readied = router.ready().then(() => {
      ready = true;
    });
    // One warning per lane (two per shard), however often it tries.
    await expect.poll(() => withMessage(lines as Line[], CANNOT_ROUTE).length, { timeout: 5_000 }).toBe(2);
    expect((lines as Line[]).find((line) => line.msg === CANNOT_ROUTE)?.err?.message).toMatch(/^WRONGTYPE/);
    await sleep(600);
    expect(ready).toBe(false);

    await redis.inspector.del(stream);
    await readied;
    const ids = await storeCallbacks(config, 3);
    await drained(config);
    expect((await jobIds(openQueue(config, deliveryQueueName('billing')))).sort()).toEqual(ids.sort());
    expect(withMessage(lines as Line[], 'routing again')).toHaveLength(2);
    expect(withMessage(lines as Line[], CANNOT_ROUTE)).toHaveLength(2);
  });

  it('on a group another router created says nothing and is ready', async () => {
    const { config } = configFor({ targets: [{ name: 'billing', directFirstAttempt: false, retry: { schedule: ['1h'] } }] });
    await loggedRouter(config);
    const { lines } = await loggedRouter(config);
    const ids = await storeCallbacks(config, 3);
    await drained(config);
    expect((await jobIds(openQueue(config, deliveryQueueName('billing')))).sort()).toEqual(ids.sort());
    expect(lines.filter((line) => line.level >= WARN)).toEqual([]);
  });
});

describe('claiming stale entries', () => {
  it('claims at most once per half claimAfter while idle, and logs nothing', async () => {
    // claimAfter 5 s: each of the two lanes claims when it starts, then not before 2.5 s have
    // passed (at the end of the read that blocked past them; reads block 1 s). Load can only
    // make the second claim later, so: two claims within the first 2 s, four soon after.
    const { config } = configFor({ intake: { claimAfter: '5s' }, targets: [{ name: 'billing', directFirstAttempt: false }] });
    const before = await calls('xautoclaim');
    const { lines } = await loggedRouter(config);
    await sleep(2_000);
    expect((await calls('xautoclaim')) - before).toBe(2);
    await expect.poll(async () => (await calls('xautoclaim')) - before, { timeout: 6_000 }).toBe(4);
    expect(lines).toEqual([]);
  });

  it("takes over a dead router's entries batch after batch without waiting, and says how many each time", async () => {
    // Half of claimAfter is 30 s: only claiming on while a claim says there is more routes them all.
    const { config } = configFor({ intake: { claimAfter: '60s', batchSize: 50 }, targets: [{ name: 'billing', directFirstAttempt: false, retry: { schedule: ['1h'] } }] });
    const stream = intakeKeys(config.redis.prefix, 0).stream;
    const ids = await storeCallbacks(config, 120);
    await redis.inspector.xgroup('CREATE', stream, ROUTER_GROUP, '0', 'MKSTREAM');
    const taken = (await redis.inspector.xreadgroup('GROUP', ROUTER_GROUP, 'dead-router', 'COUNT', 200, 'STREAMS', stream, '>')) as [string, [string, string[]][]][];
    const entryIds = taken[0]![1].map(([id]) => id);
    expect(entryIds).toHaveLength(120);
    // Taken two minutes ago, as far as the group knows.
    await redis.inspector.xclaim(stream, ROUTER_GROUP, 'dead-router', 0, ...entryIds, 'IDLE', 120_000);

    const { lines } = await loggedRouter(config);
    await expect.poll(async () => (await jobIds(openQueue(config, deliveryQueueName('billing')))).length, { timeout: 3_000 }).toBe(120);
    expect(new Set(await jobIds(openQueue(config, deliveryQueueName('billing'))))).toEqual(new Set(ids));
    await drained(config);
    const claimed = withMessage(lines, CLAIMED);
    expect(claimed.map((line) => line.entries).sort()).toEqual([20, 50, 50]);
    expect(claimed.every((line) => line.level === WARN && line.component === 'router' && line.shard === 0)).toBe(true);
  });
});

describe('while a batch cannot be queued', () => {
  const idKey = (config: RelayConfig) => `${queuePrefix(config.redis.prefix, deliveryQueueName('billing'))}:${deliveryQueueName('billing')}:id`;

  it('warns once, says once that it routes again, and then routes new callbacks too', async () => {
    const { config } = configFor({ intake: { claimAfter: '60s' }, targets: [{ name: 'billing', directFirstAttempt: false, retry: { schedule: ['1h'] } }] });
    const held = await storeCallbacks(config, 5);
    // INCR refuses this value: every addBulk to the queue fails in Redis.
    await redis.inspector.set(idKey(config), 'not-a-number');
    const { lines } = await loggedRouter(config);
    await expect.poll(() => withMessage(lines, CANNOT_ROUTE).length, { timeout: 5_000 }).toBe(1);
    // Three more tries (one per 500 ms), still one warning.
    await sleep(1_600);
    const [warning] = withMessage(lines, CANNOT_ROUTE);
    expect(withMessage(lines, CANNOT_ROUTE)).toHaveLength(1);
    expect(warning).toMatchObject({ level: WARN, component: 'router', shard: 0, err: { message: expect.stringContaining('not an integer') } });
    expect(withMessage(lines, 'routing again')).toEqual([]);

    await redis.inspector.del(idKey(config));
    await expect.poll(() => withMessage(lines, 'routing again').length, { timeout: 5_000 }).toBe(1);
    expect(withMessage(lines, 'routing again')[0]).toMatchObject({ level: 30, component: 'router', shard: 0 });
    // Back to reading new entries, not only its own pending ones.
    const later = await storeCallbacks(config, 5);
    await expect.poll(async () => new Set(await jobIds(openQueue(config, deliveryQueueName('billing')))), { timeout: 5_000 }).toEqual(new Set([...held, ...later]));
    await drained(config);
    expect(withMessage(lines, 'routing again')).toHaveLength(1);
    expect(withMessage(lines, CANNOT_ROUTE)).toHaveLength(1);
  });

  it('counts a routed batch in the batch metrics, each callback once', async () => {
    const { config } = configFor({ targets: [{ name: 'billing', directFirstAttempt: false, retry: { schedule: ['1h'] } }] });
    const sizes = await histogram('zego_relay_router_batch_size', 'sum');
    const batches = await histogram('zego_relay_router_batch_size', 'count');
    const timed = await histogram('zego_relay_router_batch_duration_seconds', 'count');
    const spent = await histogram('zego_relay_router_batch_duration_seconds', 'sum');
    await storeCallbacks(config, 7);
    await loggedRouter(config);
    await drained(config);
    expect((await histogram('zego_relay_router_batch_size', 'sum')) - sizes).toBe(7);
    const routed = (await histogram('zego_relay_router_batch_size', 'count')) - batches;
    expect(routed).toBeGreaterThanOrEqual(1);
    expect((await histogram('zego_relay_router_batch_duration_seconds', 'count')) - timed).toBe(routed);
    // In seconds: a batch of 7 on a local Redis takes milliseconds.
    const seconds = (await histogram('zego_relay_router_batch_duration_seconds', 'sum')) - spent;
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThan(5);
  });
});

describe('what a batch becomes', () => {
  it('a callback no target takes: a job in the unrouted queue, counted by its event', async () => {
    const { config } = configFor({ targets: [{ name: 'billing', events: ['room_*'], directFirstAttempt: false }] });
    const before = await unroutedCount('stream_create');
    const ids = await storeCallbacks(config, 2, 'stream_create');
    await loggedRouter(config);
    await drained(config);
    expect((await jobIds(openQueue(config, UNROUTED_QUEUE))).sort()).toEqual(ids.sort());
    expect((await unroutedCount('stream_create')) - before).toBe(2);
  });

  it.each([
    ['attempted by the router', true],
    ['without first attempts by the router', false],
  ])('an ordered target (%s): callbacks without a key field go unordered, keyed ones are ordered', async (_label, direct) => {
    const { config } = configFor({ targets: [{ name: 'billing', directFirstAttempt: direct, ordering: { key: ['task_id'] }, retry: { schedule: ['1h'] } }] });
    await loggedRouter(config);
    const keyless = await storeCallbacks(config, 3);
    const keyed = await storeKeyed(config, [['room-1', 1], ['room-1', 2], ['room-1', 3]]);
    await drained(config);
    const billing = openQueue(config, deliveryQueueName('billing'));
    expect(new Set(await jobIds(billing))).toEqual(new Set([...keyless, ...keyed]));
    for (const id of keyless) expect((await billing.getJob(id))?.data.order).toBeUndefined();
    // The head is released (a job that waits for its retry), the rest held behind it.
    const orders = await Promise.all(keyed.map(async (id) => (await billing.getJob(id))?.data.order?.key));
    expect(orders).toEqual(Array(3).fill(keyName('room-1')));
  });

  it("a first attempt that failed: its job carries the attempt's log line", async () => {
    const billing = await target(() => ({ status: 500 }));
    const { config } = configFor({ targets: [{ name: 'billing', url: billing.url, directFirstAttempt: true, retry: { schedule: ['1h'] } }] });
    // Stored once the router is ready: until it has read the target's state it attempts nothing.
    await loggedRouter(config);
    const [id] = await storeCallbacks(config, 1);
    await drained(config);
    const { logs } = await openQueue(config, deliveryQueueName('billing')).getJobLogs(id!);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toContain('500');
  });
});

describe('an acknowledgement Redis refuses', () => {
  it('fails the batch: a warning with the refusal, and the batch is not counted as routed', async () => {
    const billing = await target(() => ({ hold: true }));
    // The sibling lane must not claim the held batch as stale (and route it itself) meanwhile.
    const { config } = configFor({
      intake: { claimAfter: '60s', firstAttemptDeadline: '10s' },
      targets: [{ name: 'billing', url: billing.url, timeout: '10s', directFirstAttempt: true, retry: { schedule: ['1h'] } }],
    });
    const stream = intakeKeys(config.redis.prefix, 0).stream;
    const { lines } = await loggedRouter(config);
    await storeCallbacks(config, 1);
    await billing.waitForRequests(1);
    const batches = await histogram('zego_relay_router_batch_size', 'count');
    // While the router attempts the callback, the stream becomes a string: XACK and XDEL answer
    // WRONGTYPE inside the transaction (EXEC itself succeeds).
    await redis.inspector.multi().del(stream).set(stream, 'not a stream').exec();
    billing.release(200);
    // Its own line: the other lane's (its blocked read cut by the DEL) names the command it ran.
    await expect.poll(() => withMessage(lines, CANNOT_ROUTE).filter((line) => line.err?.message?.startsWith('WRONGTYPE') && line.err.command === undefined).length, { timeout: 5_000 }).toBe(1);
    expect((await histogram('zego_relay_router_batch_size', 'count')) - batches).toBe(0);
    await redis.inspector.del(stream);
  });
});

describe('when the group goes away under a blocked read', () => {
  it.each([
    ['its consumer group is destroyed', (stream: string) => redis.inspector.xgroup('DESTROY', stream, ROUTER_GROUP)],
    ['the stream is deleted', (stream: string) => redis.inspector.del(stream)],
  ])('%s: creates it again, says so once, and routes what comes next', async (_label, lose) => {
    const { config } = configFor({ targets: [{ name: 'billing', directFirstAttempt: false, retry: { schedule: ['1h'] } }] });
    const { lines } = await loggedRouter(config);
    // Both lanes are blocked in their reads by now.
    await sleep(200);
    await lose(intakeKeys(config.redis.prefix, 0).stream);
    await expect.poll(() => withMessage(lines, RECREATED).length, { timeout: 5_000 }).toBe(1);
    const ids = await storeCallbacks(config, 5);
    await drained(config);
    expect((await jobIds(openQueue(config, deliveryQueueName('billing')))).sort()).toEqual(ids.sort());
    expect(withMessage(lines, RECREATED)).toHaveLength(1);
    expect(withMessage(lines, RECREATED)[0]).toMatchObject({ level: WARN, component: 'router', shard: 0, stream: intakeKeys(config.redis.prefix, 0).stream });
    expect(withMessage(lines, CANNOT_ROUTE)).toEqual([]);
  });
});

describe('close()', () => {
  it('cuts a blocked read at once', async () => {
    const { config } = configFor({ targets: [{ name: 'billing', directFirstAttempt: false, retry: { schedule: ['1h'] } }] });
    const { router } = await loggedRouter(config);
    // Routing one callback starts a lane's next read (it blocks for 1 s) right after.
    await storeCallbacks(config, 1);
    await drained(config);
    await sleep(50);
    const started = performance.now();
    await router.close();
    // Well under the rest of that read's second.
    expect(performance.now() - started).toBeLessThan(500);
    await expect.poll(connectionNames).toEqual([]);
  });

  it('finishes the batch in hand, acknowledges it, then disconnects', async () => {
    const billing = await target(() => ({ hold: true }));
    // The batch waits for its held attempts (no deadline hands them to jobs), and the sibling lane
    // does not claim the held batch as stale meanwhile.
    const { config } = configFor({
      intake: { claimAfter: '60s', firstAttemptDeadline: '10s' },
      targets: [{ name: 'billing', url: billing.url, timeout: '10s', directFirstAttempt: true, retry: { schedule: ['1h'] } }],
    });
    // One callback: one lane's batch, whose attempt the target holds.
    const { router } = await loggedRouter(config);
    await storeCallbacks(config, 1);
    await billing.waitForRequests(1);
    let closed = false;
    const closing = router.close().then(() => {
      closed = true;
    });
    await sleep(300);
    expect(closed).toBe(false);
    billing.release(200);
    await closing;
    // Acknowledged and deleted: nothing left for another router to route again.
    expect(await redis.inspector.xlen(intakeKeys(config.redis.prefix, 0).stream)).toBe(0);
    const [pending] = (await redis.inspector.xpending(intakeKeys(config.redis.prefix, 0).stream, ROUTER_GROUP)) as [number];
    expect(pending).toBe(0);
    await expect.poll(connectionNames).toEqual([]);
  });
});
