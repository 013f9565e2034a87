/**
 * A harness for router tests on a test file's Redis: configs on their own prefix (also written to a
 * file, for worker processes), storing callbacks through the receiver's store, reading queues.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, expect } from 'vitest';
import type { RelayConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/lib/logger.js';
import { startRouter } from '../../workers/route/router.js';
import { CallbackStore } from '../../src/intake/callback-store.js';
import { intakePendingCount } from '../../src/intake/stats.js';
import { ROUTER_GROUP, intakeKeys, type DeliveryJobData } from '../../src/shared/names.js';
import { queueOptions } from '../../src/redis/queues.js';
import type { TestRedis } from './redis.js';
import { APP_ID, parseTestConfig, testConfigObject, type TargetInput } from './config.js';

const ALL_STATES = ['waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized'] as const;

/** Call at the top level of a test file, after useTestRedis(). */
export function routerHarness(redis: TestRedis) {
  const directory = mkdtempSync(join(tmpdir(), 'zego-relay-router-'));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  function configFor(input: { intake?: Record<string, unknown>; targets?: TargetInput[]; retention?: Record<string, unknown> } = {}): { config: RelayConfig; file: string } {
    const object = testConfigObject({
      redisUrl: redis.url,
      prefix: `router-${randomUUID()}`,
      ...(input.retention ? { retention: input.retention } : {}),
      intake: { claimAfter: 300, batchSize: 50, ...input.intake },
      // Nothing listens on port 9: every delivery fails and waits an hour, so jobs stay to be counted.
      targets: input.targets ?? [
        { name: 'billing', events: ['mix_*'], retry: { schedule: ['1h'] } },
        { name: 'audit', events: ['*'], appIds: [APP_ID], retry: { schedule: ['1h'] } },
      ],
    });
    const file = join(directory, `${randomUUID()}.yaml`);
    writeFileSync(file, JSON.stringify(object));
    return { config: parseTestConfig(object, file), file };
  }

  /** Stores `count` callbacks through the receiver's store; returns their ids. */
  async function storeCallbacks(config: RelayConfig, count: number, event = 'mix_stop', appId = APP_ID): Promise<string[]> {
    const store = CallbackStore.open(config, silentLogger);
    try {
      const ids = Array.from({ length: count }, () => `cb_${randomUUID().replace(/-/g, '')}`);
      for (let start = 0; start < ids.length; start += 100) {
        const outcomes = await Promise.all(
          ids.slice(start, start + 100).map((callbackId) =>
            store.store({ callbackId, event, appId, replayKey: randomUUID(), body: JSON.stringify({ event, id: callbackId }) }, 1_700_000_000_000),
          ),
        );
        expect(outcomes.every((outcome) => outcome === 'stored')).toBe(true);
      }
      return ids;
    } finally {
      await store.close();
    }
  }

  function openQueue(config: RelayConfig, name: string): Queue<DeliveryJobData> {
    const queue = new Queue<DeliveryJobData>(name, queueOptions(config, name, redis.inspector));
    redis.cleanup(() => queue.close());
    return queue;
  }

  const jobIds = async (queue: Queue<DeliveryJobData>) => (await queue.getJobs([...ALL_STATES], 0, -1)).map((job) => job.id!);

  async function routerRunning(config: RelayConfig) {
    const router = startRouter(config, { logger: silentLogger });
    redis.cleanup(() => router.close());
    await router.ready();
    return router;
  }

  /** No entry left in the intake log and none pending in the group. */
  async function drained(config: RelayConfig): Promise<void> {
    await expect.poll(() => intakePendingCount(redis.inspector, config), { timeout: 15_000 }).toBe(0);
    const stream = intakeKeys(config.redis.prefix, 0).stream;
    const [pending] = (await redis.inspector.xpending(stream, ROUTER_GROUP)) as [number];
    expect(pending).toBe(0);
  }

  return { configFor, storeCallbacks, openQueue, jobIds, routerRunning, drained };
}
