/**
 * A router killed with SIGKILL in a real worker process (dist/workers/main.js, built by the system
 * tier's global setup) while it moves a large intake log: another router routes every entry, and no
 * callback gets a second job.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { intakePendingCount } from '../../src/intake/stats.js';
import { deliveryQueueName } from '../../src/shared/names.js';
import { useTestRedis } from '../helpers/redis.js';
import { routerHarness } from '../helpers/router.js';

const redis = useTestRedis();
const { configFor, storeCallbacks, openQueue, jobIds, routerRunning, drained } = routerHarness(redis);

describe('a router', () => {
  it('SIGKILLed mid-stream in a worker process: another router routes every entry, one job per callback', async () => {
    const { config, file } = configFor({
      intake: { claimAfter: 500, batchSize: 20 },
      targets: [{ name: 'billing', url: 'http://127.0.0.1:9/', events: ['*'], retry: { schedule: ['1h'] } }],
    });
    const ids = await storeCallbacks(config, 3_000);
    const child = spawn(process.execPath, ['dist/workers/main.js', '--config', file], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    redis.cleanup(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    });
    // Killed once it has routed some but not all: its last batch is read and not acknowledged, or half queued.
    await expect.poll(() => intakePendingCount(redis.inspector, config), { timeout: 15_000, interval: 5 }).toBeLessThan(2_900);
    child.kill('SIGKILL');
    await exited;
    const left = await intakePendingCount(redis.inspector, config);
    expect(left).toBeGreaterThan(0);

    await routerRunning(config);
    await drained(config);
    const queued = await jobIds(openQueue(config, deliveryQueueName('billing')));
    expect(queued.length).toBe(ids.length);
    expect(new Set(queued)).toEqual(new Set(ids));
  });
});
