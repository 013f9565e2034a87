import { describe, expect, it } from 'vitest';
import { callback, deliveryHarness } from '../helpers/delivery.js';
import { useTestRedis } from '../helpers/redis.js';
import { ok, startTargetServer, type Responder } from '../helpers/targets.js';

const redis = useTestRedis();

const CALLBACKS = 60;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends CALLBACKS callbacks to both a healthy target and another one answering as `other`
 * says, one every 10 ms, and returns the healthy target's latencies (stored -> received), sorted.
 */
async function healthyLatencies(other: Responder): Promise<number[]> {
  const healthy = await startTargetServer(ok);
  const sick = await startTargetServer(other);
  const relay = await deliveryHarness({
    redisUrl: redis.url,
    targets: [
      { name: 'healthy', url: healthy.url, concurrency: 5 },
      { name: 'sick', url: sick.url, concurrency: 5, timeout: 2_000, retry: { schedule: [30, 30, 30, 30], jitter: 0 } },
    ],
  });
  try {
    await relay.startWorkers();
    const stored = new Map<string, number>();
    for (let i = 0; i < CALLBACKS; i += 1) {
      const data = callback();
      stored.set(data.callbackId, data.receivedAt);
      await relay.enqueue('sick', data);
      await relay.enqueue('healthy', data);
      await sleep(10);
    }
    const requests = await healthy.waitForRequests(CALLBACKS, 15_000);
    return requests.map((request) => request.at - stored.get(String(request.headers['webhook-id']))!).sort((a, b) => a - b);
  } finally {
    await relay.close();
    await healthy.close();
    await sick.close();
  }
}

describe('target isolation', () => {
  it('a target that is down and timing out does not raise the delivery latency of a healthy one', async () => {
    const baseline = await healthyLatencies(ok);
    const withSickNeighbour = await healthyLatencies(() => ({ hold: true }));
    const summary = (latencies: number[]) => ({ p50: latencies[Math.floor(latencies.length / 2)]!, max: latencies.at(-1)! });
    const [before, during] = [summary(baseline), summary(withSickNeighbour)];
    console.log(`healthy target latency ms: neighbour healthy p50 ${before.p50} max ${before.max}; neighbour timing out p50 ${during.p50} max ${during.max}`);
    // The sick target's requests each hang for its 2 s timeout with all 5 of its slots busy;
    // if the healthy target shared anything with it, its latency would approach that.
    expect(during.p50).toBeLessThan(150);
    expect(during.max).toBeLessThan(1_000);
  }, 60_000);
});
