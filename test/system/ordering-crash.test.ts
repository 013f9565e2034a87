/**
 * Ordered delivery across a crash, with real processes: a worker process (dist/workers/main.js:
 * router and delivery workers) SIGKILLed while keys are held, callbacks still arriving through the
 * receiver meanwhile, and another worker process taking over. Order and completeness hold: a
 * delivery in flight at the kill may be made again, but never after a later one of its key.
 */
import { describe, expect, it } from 'vitest';
import { KeyGate, gateSettings } from '../../src/targets/key-gate.js';
import { silentLogger } from '../../src/lib/logger.js';
import { startReceiver } from '../../src/receive/server.js';
import { allDelivered, orderViolations, recordingTarget, sendKeys, unreliable } from '../helpers/ordering.js';
import { useTestRedis } from '../helpers/redis.js';
import { workerProcesses } from '../helpers/worker-process.js';

const redis = useTestRedis();
const { setup, start: startWorkerProcess } = workerProcesses(redis);

describe('a worker process SIGKILLed while keys are held', () => {
  it('loses nothing and reorders nothing once another worker process takes over', async () => {
    const server = await recordingTarget(redis, unreliable(0.2, 150));
    const { file, relay } = await setup({
      redisUrl: redis.url,
      intake: { batchSize: 10 },
      delivery: { lockDuration: 1_000, stalledInterval: 500 },
      targets: [{
        name: 'ordered', url: server.server.url, events: ['mix_*'], concurrency: 10, breaker: false,
        retry: { schedule: [50, 100, 200, 200, 200, 200, 200, 200, 200, 200], jitter: 0.2 }, ordering: { key: ['task_id'] },
      }],
    });
    const receiver = await startReceiver(relay.config, { logger: silentLogger });
    redis.cleanup(() => receiver.close());
    const gate = new KeyGate(relay.connection, relay.config.redis.prefix, 'ordered', gateSettings(relay.config));

    const first = await startWorkerProcess(file);
    const keys = Array.from({ length: 20 }, (_unused, index) => `crash-${index}`);
    const sending = sendKeys(`http://127.0.0.1:${receiver.port}${relay.config.server.callbackPath}`, keys, 10);
    // Mid-run: deliveries in flight, later ones held behind them.
    await expect.poll(async () => server.attempts.length >= 40 && (await gate.stats()).held > 0, { timeout: 20_000 }).toBe(true);
    first.child.kill('SIGKILL');
    await first.exited;
    const heldAtKill = await gate.stats();
    expect(heldAtKill.held).toBeGreaterThan(0);

    await startWorkerProcess(file);
    await sending;
    await allDelivered(server, keys, 10, 60_000);
    expect(orderViolations(server.attempts)).toEqual([]);
    await expect.poll(() => gate.stats(), { timeout: 10_000 }).toEqual({ keys: 0, heldKeys: 0, held: 0 });
    expect(await relay.queue('ordered').getJobCounts('delayed', 'failed')).toEqual({ delayed: 0, failed: 0 });
  }, 90_000);
});
