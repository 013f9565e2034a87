/**
 * Redis Cluster, 3 masters + 3 replicas, AOF always, 6 intake shards. A ZEGO-like sender pushes
 * signed callbacks (ZEGO's retries, scaled down); mid-run the master holding intake shard 0 is
 * SIGKILLed, its replica takes over, and the killed node is started again (as a process
 * supervisor would) and rejoins as the new master's replica. With `waitReplicas: 1` every callback
 * answered 200 reaches the target; the shards of the lost master answer 503 from the kill until
 * their new master has a replica again. The same run with `waitReplicas: 0` reports what was lost.
 * Both print duplicates and the 503 window (ms after the kill).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startReceiver } from '../../src/receive/server.js';
import { intakeKeys } from '../../src/shared/names.js';
import { silentLogger } from '../../src/lib/logger.js';
import { startWorkers } from '../../workers/role.js';
import { runThroughFailover, type FailoverReport } from '../helpers/failover.js';
import { capturingLogger } from '../helpers/log-capture.js';
import { startRedisCluster } from '../../bench/lib/redis-topologies.js';
import { ok, startTargetServer } from '../helpers/targets.js';
import { testConfig } from '../helpers/config.js';
import { Redis } from 'ioredis';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function slotOf(port: number, key: string): Promise<number> {
  const client = new Redis(port);
  try {
    return Number(await client.cluster('KEYSLOT', key));
  } finally {
    client.disconnect();
  }
}

async function run(waitReplicas: number): Promise<FailoverReport & { slowestAnswerMs: number; failover?: unknown }> {
  const cluster = await startRedisCluster({ appendfsync: 'always' });
  cleanups.push(() => cluster.stop());
  const target = await startTargetServer(ok);
  cleanups.push(() => target.close());
  const prefix = `cluster-${waitReplicas}`;
  const config = testConfig({
    redis: { cluster: { nodes: cluster.urls.slice(0, 3) }, waitReplicas },
    prefix,
    intake: { shards: 6, claimAfter: '3s' },
    targets: [{ name: 'billing', events: ['*'], url: target.url, retry: { schedule: [200, 500, 1_000, 2_000, 2_000, 2_000, 2_000], jitter: 0 } }],
  });
  const { logger, lines } = capturingLogger('info');
  const receiver = await startReceiver(config, { logger });
  cleanups.push(() => receiver.close());
  const workers = await startWorkers(config, { logger: silentLogger });
  cleanups.push(() => workers.close());

  const victim = await cluster.masterOfSlot(await slotOf(cluster.nodes[0]!.port, intakeKeys(prefix, 0).stream));
  let failover: unknown;
  const report = await runThroughFailover({
    receiverUrls: [`http://127.0.0.1:${receiver.port}/zego/callback`],
    target,
    count: 600,
    perSecond: 60,
    kill: async () => {
      const promoted = await cluster.killAndWaitForFailover(victim);
      failover = { ...promoted, replicaBackAfterMs: promoted.tookMs + (await cluster.restartAsReplica(victim)).tookMs };
    },
  });
  const slowestAnswerMs = Math.max(...lines.flatMap((line) => line.ms ?? []));
  return { ...report, slowestAnswerMs, failover };
}

describe('Redis Cluster: a master SIGKILLed under a ZEGO-like sender', () => {
  it('with waitReplicas 1: every callback answered 200 is delivered; 503s (never a hang) until the new master has a replica', async () => {
    const report = await run(1);
    console.log(JSON.stringify({ test: 'cluster waitReplicas 1', ...report }));
    expect(report.lost).toEqual([]);
    // The store gives up at 1.5 s; what comes on top is this process's event loop, shared with the
    // sender, routers and workers on a loaded 2-core machine (eventLoopMaxMs in the report).
    expect(report.slowestAnswerMs).toBeLessThan(1_500 + Math.max(500, report.eventLoopMaxMs));
    expect(report.acknowledged).toBeGreaterThan(report.callbacks * 0.95);
  });

  it('with waitReplicas 0: reports what was lost', async () => {
    const report = await run(0);
    console.log(JSON.stringify({ test: 'cluster waitReplicas 0', ...report }));
    // Asynchronous replication may lose a few acknowledged callbacks with the master: the figure
    // that justifies waitReplicas. It is reported, not asserted (on one machine it is often 0).
    expect(report.slowestAnswerMs).toBeLessThan(1_500 + Math.max(500, report.eventLoopMaxMs));
  });
});
