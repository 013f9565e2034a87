/**
 * Replay through the admin API and requeueDeadLetters on a real Redis: only the named target's
 * dead letters, only those within `since` (two targets, dead letters on both sides of it), a page
 * at a time (memory holds one page, not the backlog), and an answer within a time budget that says
 * whether more remain; each stopping rule (since, limit, deadline, a dead letter taken from under
 * the run, Redis gone) and an ordered target's replay in its keys' order. The `replay` command's
 * own test is in test/system/cli.test.ts.
 */
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { describe, expect, it } from 'vitest';
import type { RelayConfig } from '../../src/config/load.js';
import { replayDeadLetters, requeueDeadLetters, UnknownTargetError } from '../../src/targets/replay.js';
import { silentLogger } from '../../src/lib/logger.js';
import { startAdmin } from '../../src/admin/listener.js';
import { queueOptions } from '../../src/redis/queues.js';
import { deliveryQueueName, type DeliveryJobData } from '../../src/shared/names.js';
import { createWorkerConnection } from '../../src/redis/connection.js';
import { testConfig } from '../helpers/config.js';
import { deadLettersAt } from '../helpers/dead-letters.js';
import { startRedisServer, useTestRedis } from '../helpers/redis.js';
import { UnavailableError } from '../../src/errors.js';

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

describe('replayDeadLetters (the `replay` command\'s call)', () => {
  it('refuses a target the configuration does not have, naming those it has', async () => {
    const config = testConfig({ redisUrl: redis.url, targets: [{ name: 'alpha' }, { name: 'beta' }] });
    const refused = replayDeadLetters({ config, target: 'gamma' });
    await expect(refused).rejects.toBeInstanceOf(UnknownTargetError);
    await expect(refused).rejects.toThrow('no target named "gamma" in the configuration (targets: alpha, beta)');
    expect(new UnknownTargetError('gamma', []).message).toBe('no target named "gamma" in the configuration (targets: none)');
    expect(new UnknownTargetError('gamma', []).name).toBe('UnknownTargetError');
  });

  it('re-queues the target\'s dead letters and reports each one as it goes', async () => {
    const config = testConfig({ redisUrl: redis.url });
    const ids = await deadLettersAt(config, 'billing', Date.now() - 60_000, 3);
    const progress: number[] = [];
    expect(await replayDeadLetters({ config, target: 'billing', onReplayed: (count) => progress.push(count) })).toBe(3);
    expect(progress).toEqual([1, 2, 3]);
    const queue = queueOf(config, 'billing');
    expect(await Promise.all(ids.map((id) => queue.getJobState(id)))).toEqual(['waiting', 'waiting', 'waiting']);
  });

  it("re-queues an ordered target's dead letters in their keys' order, not in the order they failed", async () => {
    const config = testConfig({ redisUrl: redis.url, targets: [{ name: 'ordered', ordering: { key: ['task_id'] } }] });
    const now = Date.now();
    // Failed newest first: position 3, then 1, then 2.
    const third = await deadLettersAt(config, 'ordered', now - 1_000, 1, { data: () => ({ order: { key: 'k', at: '0003' } }) });
    const first = await deadLettersAt(config, 'ordered', now - 2_000, 1, { data: () => ({ order: { key: 'k', at: '0001' } }) });
    const second = await deadLettersAt(config, 'ordered', now - 3_000, 1, { data: () => ({ order: { key: 'k', at: '0002' } }) });
    expect(await replayDeadLetters({ config, target: 'ordered' })).toBe(3);
    const waiting = await queueOf(config, 'ordered').getWaiting();
    // The wait list holds them in the order they were re-queued.
    expect(waiting.map((job) => job.id)).toEqual([...first, ...second, ...third]);
  });
});

describe('replayDeadLetters when Redis goes away during the run', () => {
  it('stops with UnavailableError saying how many it re-queued', async () => {
    const own = await startRedisServer();
    redis.cleanup(() => own.stop());
    const config = testConfig({ redisUrl: own.url });
    await deadLettersAt(config, 'billing', Date.now() - 60_000, 3);
    let killed: Promise<void> | undefined;
    const run = replayDeadLetters({ config, target: 'billing', onReplayed: (count) => {
      if (count === 1) killed = own.kill();
    } });
    await expect(run).rejects.toBeInstanceOf(UnavailableError);
    await expect(run).rejects.toThrow(/^Redis went away after [12] re-queued$/);
    await killed;
  });
});

describe('requeueDeadLetters: which dead letters, and when it stops', () => {
  async function billing(recent: number, old = 0) {
    const config = testConfig({ redisUrl: redis.url });
    const now = Date.now();
    const dead = { old: await deadLettersAt(config, 'billing', now - 2 * HOUR, old), recent: await deadLettersAt(config, 'billing', now - 60_000, recent) };
    const queue = queueOf(config, 'billing');
    const states = (ids: string[]) => Promise.all(ids.map((id) => queue.getJobState(id)));
    return { queue, dead, states };
  }

  it('takes `since` from its own clock (`now`)', async () => {
    const { queue, dead, states } = await billing(2, 2);
    // An hour later than the dead letters think: `since 90m` reaches only the recent ones... from 3 h later, none.
    expect(await requeueDeadLetters(queue, { sinceMs: 90 * 60_000, now: () => Date.now() + 3 * HOUR })).toEqual({ requeued: 0, more: false });
    expect(await requeueDeadLetters(queue, { sinceMs: 90 * 60_000 })).toEqual({ requeued: 2, more: false });
    expect(await states(dead.recent)).toEqual(['waiting', 'waiting']);
    expect(await states(dead.old)).toEqual(['failed', 'failed']);
  });

  it('counts a dead letter that failed exactly `since` ago as within it', async () => {
    const config = testConfig({ redisUrl: redis.url });
    const failedAt = Date.now() - 60_000;
    const [id] = await deadLettersAt(config, 'billing', failedAt, 1);
    const queue = queueOf(config, 'billing');
    expect(await requeueDeadLetters(queue, { sinceMs: 60_000, now: () => failedAt + 60_001 })).toEqual({ requeued: 0, more: false });
    expect(await requeueDeadLetters(queue, { sinceMs: 60_000, now: () => failedAt + 60_000 })).toEqual({ requeued: 1, more: false });
    expect(await queue.getJobState(id!)).toBe('waiting');
  });

  it("resets BullMQ's own attempt counters of what it re-queues", async () => {
    const { queue, dead } = await billing(1);
    expect((await queue.getJob(dead.recent[0]!))!.attemptsMade).toBe(1);
    await requeueDeadLetters(queue, {});
    const job = (await queue.getJob(dead.recent[0]!))!;
    expect([job.attemptsMade, job.attemptsStarted]).toEqual([0, 0]);
  });

  it('leaves in place a dead letter that failed after the run started, and re-queues every one it started with', async () => {
    const config = testConfig({ redisUrl: redis.url });
    const ids = await deadLettersAt(config, 'billing', Date.now() - 60_000, 4);
    const queue = queueOf(config, 'billing');
    const getFailed = queue.getFailed.bind(queue);
    let pages = 0;
    let late: string[] = [];
    queue.getFailed = async (start?: number, end?: number) => {
      // Before the second page: a delivery fails for good now, at the head of the dead letters.
      if (++pages === 2) late = await deadLettersAt(config, 'billing', Date.now(), 1, { whileWaiting: true });
      return getFailed(start, end);
    };
    expect(await requeueDeadLetters(queue, { pageSize: 2 })).toEqual({ requeued: 4, more: false });
    expect(await Promise.all(ids.map((id) => queue.getJobState(id)))).toEqual(['waiting', 'waiting', 'waiting', 'waiting']);
    expect(await queue.getJobState(late[0]!)).toBe('failed');
  });

  it('says none remain when it reached the count it started with, though an older one turned up meanwhile', async () => {
    const config = testConfig({ redisUrl: redis.url });
    await deadLettersAt(config, 'billing', Date.now() - 60_000, 2);
    const queue = queueOf(config, 'billing');
    const getFailed = queue.getFailed.bind(queue);
    let pages = 0;
    queue.getFailed = async (start?: number, end?: number) => {
      if (++pages === 2) await deadLettersAt(config, 'billing', Date.now() - 120_000, 1, { whileWaiting: true });
      return getFailed(start, end);
    };
    expect(await requeueDeadLetters(queue, { pageSize: 2, limit: 5 })).toEqual({ requeued: 2, more: false });
  });

  it('leaves a dead letter it could not re-queue in place and goes past it, without checkConnection too', async () => {
    const { queue, dead, states } = await billing(3);
    const getFailed = queue.getFailed.bind(queue);
    let stuck: string | undefined;
    queue.getFailed = async (start?: number, end?: number) => {
      const page = await getFailed(start, end);
      if (!stuck && page[0]) {
        stuck = page[0].id!;
        page[0].retry = async () => {
          throw new Error('locked');
        };
      }
      return page;
    };
    const newestFirst = (await getFailed()).map((job) => job.id);
    expect(await requeueDeadLetters(queue, { pageSize: 1 })).toEqual({ requeued: 2, more: false });
    expect(await queue.getJobState(stuck!)).toBe('failed');
    expect((await states(dead.recent)).filter((state) => state === 'waiting')).toHaveLength(2);
    // The others, newest first: the next page started after the one left in place.
    expect((await queue.getWaiting()).map((job) => job.id)).toEqual(newestFirst.filter((id) => id !== stuck));
  });

  it('says more remain only when it stopped short of them: a limit of exactly the count leaves none', async () => {
    const { queue } = await billing(3);
    expect(await requeueDeadLetters(queue, { limit: 3, pageSize: 2 })).toEqual({ requeued: 3, more: false });
  });

  it('stops at its deadline with nothing re-queued and more to do; with no dead letters, none remain', async () => {
    const empty = await billing(0);
    expect(await requeueDeadLetters(empty.queue, { deadline: Date.now() - 1 })).toEqual({ requeued: 0, more: false });
    const { queue, dead, states } = await billing(2);
    expect(await requeueDeadLetters(queue, { deadline: Date.now() - 1 })).toEqual({ requeued: 0, more: true });
    expect(await states(dead.recent)).toEqual(['failed', 'failed']);
  });

  it('goes on past a dead letter someone else re-queued meanwhile, telling checkConnection, and re-queues the rest', async () => {
    const { queue, dead, states } = await billing(3);
    // Bull Board's retry button, pressed on the second newest while the run has it in its page.
    const getFailed = queue.getFailed.bind(queue);
    let pressed = false;
    queue.getFailed = async (start?: number, end?: number) => {
      const page = await getFailed(start, end);
      if (!pressed && page.length > 1) {
        pressed = true;
        await page[1]!.retry('failed');
      }
      return page;
    };
    const told: number[] = [];
    expect(await requeueDeadLetters(queue, { pageSize: 2, checkConnection: (replayed) => told.push(replayed) })).toEqual({ requeued: 2, more: false });
    expect(told).toEqual([1]);
    expect(await states(dead.recent)).toEqual(['waiting', 'waiting', 'waiting']);
  });

  it('stops when checkConnection throws (Redis gone), with what it re-queued so far', async () => {
    const { queue } = await billing(3);
    const getFailed = queue.getFailed.bind(queue);
    queue.getFailed = async (start?: number, end?: number) => {
      const page = await getFailed(start, end);
      // Every job of the page is taken from under the run: its own retries fail.
      for (const job of page.slice(1)) await job.remove();
      return page;
    };
    const stopped = requeueDeadLetters(queue, { checkConnection: (replayed) => {
      throw new Error(`gone after ${replayed}`);
    } });
    await expect(stopped).rejects.toThrow('gone after 1');
  });

  describe('on an ordered target (keyOrder)', () => {
    async function ordered(positions: Array<{ at: string; minutesAgo: number }>) {
      const config = testConfig({ redisUrl: redis.url, targets: [{ name: 'ordered', ordering: { key: ['task_id'] } }] });
      const ids: Record<string, string> = {};
      for (const { at, minutesAgo } of positions) {
        ids[at] = (await deadLettersAt(config, 'ordered', Date.now() - minutesAgo * 60_000, 1, { data: () => ({ order: { key: 'k', at } }) }))[0]!;
      }
      const queue = queueOf(config, 'ordered');
      const byPosition = (...ats: string[]) => ats.map((at) => ids[at]);
      /** The wait list, in the order the replay re-queued them. */
      const requeued = async () => (await queue.getWaiting()).map((job) => job.id);
      return { queue, ids, requeued, byPosition };
    }

    it('chooses the most recently failed within since and limit, and re-queues them oldest position first', async () => {
      const { queue, requeued, byPosition } = await ordered([
        { at: '05', minutesAgo: 300 }, { at: '02', minutesAgo: 3 }, { at: '04', minutesAgo: 2 }, { at: '01', minutesAgo: 1 }, { at: '03', minutesAgo: 4 },
      ]);
      expect(await requeueDeadLetters(queue, { keyOrder: true, sinceMs: HOUR, limit: 3, pageSize: 2 })).toEqual({ requeued: 3, more: true });
      expect(await requeued()).toEqual(byPosition('01', '02', '04'));
      expect(await requeueDeadLetters(queue, { keyOrder: true, sinceMs: HOUR, pageSize: 2 })).toEqual({ requeued: 1, more: false });
      expect(await requeued()).toEqual(byPosition('01', '02', '04', '03'));
    });

    it('sorts any number of positions, whatever order they failed in', async () => {
      const { queue, requeued, byPosition } = await ordered([
        { at: '3', minutesAgo: 1 }, { at: '6', minutesAgo: 2 }, { at: '1', minutesAgo: 3 }, { at: '5', minutesAgo: 4 }, { at: '2', minutesAgo: 5 }, { at: '4', minutesAgo: 6 },
      ]);
      expect(await requeueDeadLetters(queue, { keyOrder: true, deadline: Date.now() + 60_000 })).toEqual({ requeued: 6, more: false });
      expect(await requeued()).toEqual(byPosition('1', '2', '3', '4', '5', '6'));
      const job = (await queue.getJob(byPosition('1')[0]!))!;
      expect([job.attemptsMade, job.attemptsStarted]).toEqual([0, 0]);
    });

    it('counts a dead letter that failed exactly `since` ago as within it', async () => {
      const config = testConfig({ redisUrl: redis.url, targets: [{ name: 'ordered', ordering: { key: ['task_id'] } }] });
      const failedAt = Date.now() - 60_000;
      await deadLettersAt(config, 'ordered', failedAt, 1, { data: () => ({ order: { key: 'k', at: '1' } }) });
      const queue = queueOf(config, 'ordered');
      expect(await requeueDeadLetters(queue, { keyOrder: true, sinceMs: 60_000, now: () => failedAt + 60_001 })).toEqual({ requeued: 0, more: false });
      expect(await requeueDeadLetters(queue, { keyOrder: true, sinceMs: 60_000, now: () => failedAt + 60_000 })).toEqual({ requeued: 1, more: false });
    });

    it('puts a dead letter without a position first', async () => {
      const config = testConfig({ redisUrl: redis.url, targets: [{ name: 'ordered', ordering: { key: ['task_id'] } }] });
      const plain = await deadLettersAt(config, 'ordered', Date.now() - 60_000, 1);
      const tagged = await deadLettersAt(config, 'ordered', Date.now() - 120_000, 1, { data: () => ({ order: { key: 'k', at: '0' } }) });
      const queue = queueOf(config, 'ordered');
      const progress: number[] = [];
      expect(await requeueDeadLetters(queue, { keyOrder: true, onReplayed: (count) => progress.push(count) })).toEqual({ requeued: 2, more: false });
      expect(progress).toEqual([1, 2]);
      const waiting = await queue.getWaiting();
      expect(waiting.map((job) => job.id)).toEqual([...plain, ...tagged]);
    });

    it('stops at its deadline saying more remain, and skips a chosen one that is gone', async () => {
      const late = await ordered([{ at: '1', minutesAgo: 1 }, { at: '2', minutesAgo: 2 }]);
      expect(await requeueDeadLetters(late.queue, { keyOrder: true, deadline: Date.now() - 1 })).toEqual({ requeued: 0, more: true });
      // Position 1 is removed (retention, Bull Board) after the replay chose it: when the replay
      // looks it up by id, the second time it is read (the first is the page of dead letters).
      const getJob = late.queue.getJob.bind(late.queue);
      let reads = 0;
      late.queue.getJob = async (id: string) => {
        if (id === late.ids['1'] && ++reads === 2) await (await getJob(id))!.remove();
        return getJob(id);
      };
      const told: number[] = [];
      expect(await requeueDeadLetters(late.queue, { keyOrder: true, checkConnection: (replayed) => told.push(replayed) })).toEqual({ requeued: 1, more: false });
      expect(reads).toBe(2);
      expect(told).toEqual([]);
    });

    it('tells checkConnection when a re-queue fails, and goes on (without checkConnection too)', async () => {
      for (const withCheck of [true, false]) {
        const { queue, ids } = await ordered([{ at: '1', minutesAgo: 1 }, { at: '2', minutesAgo: 2 }]);
        // Someone else re-queued position 1 after the choice was made.
        const getJob = queue.getJob.bind(queue);
        queue.getJob = async (id: string) => {
          const job = await getJob(id);
          if (id === ids['1']) await job!.retry('failed');
          return job;
        };
        const told: number[] = [];
        const checkConnection = withCheck ? { checkConnection: (replayed: number) => told.push(replayed) } : {};
        expect(await requeueDeadLetters(queue, { keyOrder: true, ...checkConnection })).toEqual({ requeued: 1, more: false });
        expect(told).toEqual(withCheck ? [0] : []);
        await queue.obliterate({ force: true });
      }
    });
  });
});
