/**
 * A router making first attempts, SIGKILLed mid-batch in a real worker process (dist/workers/main.js,
 * built by the system tier's global setup): some of its batch was delivered, none of it acknowledged.
 * The router that takes the batch over attempts it again: every callback arrives, and a callback
 * arrives twice only if it was in a batch the killed router had in hand (at-least-once, duplicates
 * bounded by its batches).
 */
import { describe, expect, it } from 'vitest';
import { startWorkers } from '../../workers/role.js';
import { silentLogger } from '../../src/lib/logger.js';
import { intakePendingCount } from '../../src/intake/stats.js';
import { deliveryFixtures } from '../helpers/delivery.js';
import { useTestRedis } from '../helpers/redis.js';
import { routerHarness } from '../helpers/router.js';
import { workerProcesses } from '../helpers/worker-process.js';

const redis = useTestRedis();
const { configFor, storeCallbacks, drained } = routerHarness(redis);
const { start: startWorkerProcess } = workerProcesses(redis);
const { target } = deliveryFixtures(redis);

const BATCH = 20;
/** Read-route-acknowledge loops per intake shard in a router (workers/route/router.ts). */
const LANES = 2;

describe('a router making first attempts', () => {
  it('SIGKILLed mid-batch: nothing is lost, and only its batches in hand are delivered twice', async () => {
    // Each answer takes 50 ms and 5 go at once: a batch is in hand for a while, some of its first
    // attempts made, the rest waiting for their turn.
    const server = await target(() => ({ status: 200, delayMs: 50 }));
    const { config, file } = configFor({
      // claimAfter twice the first-attempt deadline: only the killed router's batches are taken over.
      intake: { claimAfter: 2_000, batchSize: BATCH },
      targets: [{ name: 'billing', url: server.url, events: ['*'], concurrency: 5, retry: { schedule: ['1h'] } }],
    });
    const ids = await storeCallbacks(config, 400);
    const first = await startWorkerProcess(file);
    // Killed once it has delivered some, not all: a batch is in hand, partly delivered, unacknowledged.
    await expect.poll(() => server.requests.length, { timeout: 15_000, interval: 5 }).toBeGreaterThanOrEqual(60);
    first.child.kill('SIGKILL');
    await first.exited;
    const deliveredByFirst = server.requests.length;
    expect(deliveredByFirst).toBeLessThan(ids.length);
    expect(await intakePendingCount(redis.inspector, config)).toBeGreaterThan(0);

    const second = await startWorkers(config, { logger: silentLogger });
    redis.cleanup(() => second.close());
    await drained(config);
    const arrived = () => new Set(server.requests.map((request) => String(request.headers['webhook-id'])));
    await expect.poll(() => arrived().size, { timeout: 20_000 }).toBe(ids.length);
    expect(arrived()).toEqual(new Set(ids));
    const duplicates = server.requests.length - ids.length;
    // At most what the killed router's lanes had in hand (each a batch), never the whole log.
    expect(duplicates).toBeLessThanOrEqual(LANES * BATCH);
  });
});
