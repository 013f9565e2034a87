/**
 * Replay through the admin API and requeueDeadLetters on a real Redis: only the named target's
 * dead letters, only those within `since` (two targets, dead letters on both sides of it), a page
 * at a time (memory holds one page, not the backlog), and an answer within a time budget that says
 * whether more remain. The `replay` command's own test is in test/cli.test.ts.
 */
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { describe, expect, it } from 'vitest';
import type { RelayConfig } from '../src/config/load.js';
import { requeueDeadLetters } from '../src/deliver/replay.js';
import { silentLogger } from '../src/lib/logger.js';
import { startAdmin } from '../src/ops/admin.js';
import { queueOptions } from '../src/store/queues.js';
import { deliveryQueueName, type DeliveryJobData } from '../src/shared/names.js';
import { createWorkerConnection } from '../src/store/redis.js';
import { testConfig } from './helpers/config.js';
import { deadLettersAt } from './helpers/dead-letters.js';
import { useTestRedis } from './helpers/redis.js';

const redis = useTestRedis();
const PASSWORD = 'replay-test-Pw-4c2e';
const AUTH = `Basic ${Buffer.from(`ops:${PASSWORD}`).toString('base64')}`;
const HOUR = 3_600_000;

function queueOf(config: RelayConfig, target: string): Queue<DeliveryJobData> {
  const connection = createWorkerConnection(config.redis, 'test-replay');
  const queue = new Queue<DeliveryJobData>(deliveryQueueName(target), queueOptions(config, deliveryQueueName(target), connection));
  redis.cleanup(async () => {
    await queue.close();
    connection.disconnect();
  });
  return queue;
}

/** Two targets, `alpha` listed first; each with two dead letters from 2 h ago and two from a minute ago. */
async function twoTargets() {
  const config = testConfig({ redisUrl: redis.url, adminPassword: PASSWORD, targets: [{ name: 'alpha' }, { name: 'beta' }] });
  const now = Date.now();
  const dead = {
    alpha: { old: await deadLettersAt(config, 'alpha', now - 2 * HOUR, 2), recent: await deadLettersAt(config, 'alpha', now - 60_000, 2) },
    beta: { old: await deadLettersAt(config, 'beta', now - 2 * HOUR, 2), recent: await deadLettersAt(config, 'beta', now - 60_000, 2) },
  };
  const states = async (target: 'alpha' | 'beta', ids: string[]) => Promise.all(ids.map((id) => queueOf(config, target).getJobState(id)));
  return { config, dead, states };
}

describe('POST /admin/api/targets/NAME/replay', () => {
  it('re-queues the named target\'s dead letters within `since` only: not the other target\'s, not older ones', async () => {
    const { config, dead, states } = await twoTargets();
    const admin = await startAdmin(config, { logger: silentLogger });
    redis.cleanup(() => admin.close());
    const response = await fetch(`${admin.url}/admin/api/targets/beta/replay`, {
      method: 'POST', headers: { authorization: AUTH, 'content-type': 'application/json' }, body: JSON.stringify({ since: '1h' }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true, requeued: 2, more: false });
    expect(await states('beta', dead.beta.recent)).toEqual(['waiting', 'waiting']);
    expect(await states('beta', dead.beta.old)).toEqual(['failed', 'failed']);
    expect(await states('alpha', [...dead.alpha.recent, ...dead.alpha.old])).toEqual(['failed', 'failed', 'failed', 'failed']);
  });

  it('answers within its time budget with what it re-queued and whether more remain; asked again, it goes on', async () => {
    const config = testConfig({ redisUrl: redis.url, adminPassword: PASSWORD });
    const ids = await deadLettersAt(config, 'billing', Date.now() - 60_000, 3);
    const replay = async (budgetMs: number, body: unknown) => {
      const admin = await startAdmin(config, { logger: silentLogger, replayBudgetMs: budgetMs });
      try {
        const response = await fetch(`${admin.url}/admin/api/targets/billing/replay`, {
          method: 'POST', headers: { authorization: AUTH, 'content-type': 'application/json' }, body: JSON.stringify(body),
        });
        return response.json();
      } finally {
        await admin.close();
      }
    };
    // A budget already spent: nothing re-queued yet, and it says more remain.
    expect(await replay(0, {})).toEqual({ ok: true, requeued: 0, more: true });
    expect(await replay(10_000, { limit: 2 })).toEqual({ ok: true, requeued: 2, more: true });
    expect(await replay(10_000, {})).toEqual({ ok: true, requeued: 1, more: false });
    const queue = queueOf(config, 'billing');
    expect(await Promise.all(ids.map((id) => queue.getJobState(id)))).toEqual(['waiting', 'waiting', 'waiting']);
  });
});

describe('requeueDeadLetters', () => {
  it('holds one page of dead letters at a time, whatever the backlog, and re-queues every one once', async () => {
    const config = testConfig({ redisUrl: redis.url });
    const ids = await deadLettersAt(config, 'billing', Date.now() - 60_000, 45);
    const queue = queueOf(config, 'billing');
    // Counts what the replay has read from Redis and not yet re-queued (a spy around the real call).
    let read = 0;
    let requeued = 0;
    let mostHeld = 0;
    const getFailed = queue.getFailed.bind(queue);
    queue.getFailed = async (start?: number, end?: number) => {
      const page = await getFailed(start, end);
      read += page.length;
      mostHeld = Math.max(mostHeld, read - requeued);
      return page;
    };
    const result = await requeueDeadLetters(queue, { pageSize: 10, onReplayed: (count) => (requeued = count) });
    expect(result).toEqual({ requeued: 45, more: false });
    expect(mostHeld).toBeLessThanOrEqual(10);
    expect(new Set(await Promise.all(ids.map((id) => queue.getJobState(id))))).toEqual(new Set(['waiting']));
  });

  it('never re-queues one dead letter twice in a run, when each fails again at once', async () => {
    const config = testConfig({ redisUrl: redis.url });
    const ids = await deadLettersAt(config, 'billing', Date.now() - 60_000, 5);
    const queue = queueOf(config, 'billing');
    // A target still down: a worker fails every re-queued delivery for good, while the run goes on.
    const connection = createWorkerConnection(config.redis, 'test-replay-worker');
    const worker = new Worker(deliveryQueueName('billing'), async () => {
      throw new UnrecoverableError('410 gone');
    }, queueOptions(config, deliveryQueueName('billing'), connection));
    redis.cleanup(async () => {
      await worker.close();
      connection.disconnect();
    });
    let failedAgain = 0;
    worker.on('failed', () => (failedAgain += 1));
    const result = await requeueDeadLetters(queue, { pageSize: 2 });
    expect(result).toEqual({ requeued: 5, more: false });
    await expect.poll(() => failedAgain).toBe(5);
    expect(await Promise.all(ids.map((id) => queue.getJobState(id)))).toEqual(['failed', 'failed', 'failed', 'failed', 'failed']);
  });
});
