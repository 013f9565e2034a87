/**
 * Section "cluster": ingest of the receiver role (50 connections, every request a new signed
 * mix_stop callback, AOF always on every node) against Redis Clusters started for the section:
 * - 1 master against 3 masters (no replicas), 6 intake shards: what spreading the intake buys;
 * - 3 masters + 3 replicas with `redis.waitReplicas` 0 against 1: what "acknowledged means on a
 *   replica" costs (each 200 waits for a WAIT round trip to a replica).
 * On one 2-core machine every Redis node, the receiver and the load generator share the cores, so
 * more masters add processes competing for them rather than capacity: the figures show the
 * relay's overhead per topology, not a cluster's scaling on separate machines.
 */
import { randomUUID } from 'node:crypto';
import { meanOf, measureServer } from './ingest.js';
import { formatRow, type LoadResult } from './lib/load.js';
import { startRedisCluster } from './lib/redis-topologies.js';
import type { BenchContext, BenchSection } from './lib/section.js';
import { formatNumber, milliseconds, perSecond, ratioOf, type FigureRow, type SectionFigures } from './report.js';

const APP_ID = '111111';
const SECRET = 'bench-secret';
const SHARDS = 6;

/** Starts a cluster, runs `measure` against it, stops it. */
async function onCluster<T>(shape: { masters: number; replicasPerMaster: number }, measure: (nodes: readonly string[]) => Promise<T>): Promise<T> {
  const cluster = await startRedisCluster({ ...shape, appendfsync: 'always' });
  try {
    return await measure(cluster.urls);
  } finally {
    await cluster.stop();
  }
}

/** The receiver role (in its own process) on `nodes`, under the ingest load. */
function ingest(nodes: readonly string[], waitReplicas: number, context: BenchContext): Promise<LoadResult> {
  return measureServer(
    './lib/receiver-server.js',
    {
      BENCH_REDIS_JSON: JSON.stringify({ cluster: { nodes }, waitReplicas }),
      BENCH_SHARDS: String(SHARDS),
      BENCH_PREFIX: `bench-${randomUUID().slice(0, 8)}`,
      BENCH_APP_ID: APP_ID,
      BENCH_SECRET: SECRET,
    },
    '/zego/callback',
    context,
  );
}

export const clusterSection: BenchSection = {
  name: 'cluster',
  async run(context) {
    const one = await onCluster({ masters: 1, replicasPerMaster: 0 }, (nodes) => ingest(nodes, 0, context));
    console.log(formatRow('cluster, 1 master', one));
    const three = await onCluster({ masters: 3, replicasPerMaster: 0 }, (nodes) => ingest(nodes, 0, context));
    console.log(formatRow('cluster, 3 masters', three));
    // A B B A on one 3+3 cluster: drift (AOF growth, the machine's load) weighs on both alike.
    const [noWait, waitOne] = await onCluster({ masters: 3, replicasPerMaster: 1 }, async (nodes) => {
      const runs = [await ingest(nodes, 0, context), await ingest(nodes, 1, context), await ingest(nodes, 1, context), await ingest(nodes, 0, context)];
      return [meanOf(runs[0]!, runs[3]!), meanOf(runs[1]!, runs[2]!)] as const;
    });
    console.log(formatRow('3+3, waitReplicas 0', noWait));
    console.log(formatRow('3+3, waitReplicas 1', waitOne));
    console.log(`ratio 3 masters/1 master: ${ratioOf(three.requestsPerSecond, one.requestsPerSecond).toFixed(2)}`);
    console.log(`ratio waitReplicas 1/0: ${ratioOf(waitOne.requestsPerSecond, noWait.requestsPerSecond).toFixed(2)}`);
    return [clusterFigures({ one, three, noWait, waitOne })];
  },
};

function clusterFigures(runs: { one: LoadResult; three: LoadResult; noWait: LoadResult; waitOne: LoadResult }): SectionFigures {
  const { one, three, noWait, waitOne } = runs;
  const rps = (result: LoadResult) => perSecond(result.requestsPerSecond);
  const rows: FigureRow[] = [
    { measure: 'requests/s, 3 masters vs 1 master (6 shards, waitReplicas 0)', value: rps(three), baseline: rps(one), ratio: ratioOf(three.requestsPerSecond, one.requestsPerSecond) },
    { measure: 'requests/s, 3+3 with waitReplicas 1 vs 0', value: rps(waitOne), baseline: rps(noWait), ratio: ratioOf(waitOne.requestsPerSecond, noWait.requestsPerSecond) },
    { measure: 'latency p50, waitReplicas 1 vs 0', value: milliseconds(waitOne.p50Ms), baseline: milliseconds(noWait.p50Ms) },
    { measure: 'latency p99, waitReplicas 1 vs 0', value: milliseconds(waitOne.p99Ms), baseline: milliseconds(noWait.p99Ms) },
    {
      measure: 'requests measured (not 2xx): 1 master, 3 masters, 3+3 wait 0, 3+3 wait 1',
      value: [one, three, noWait, waitOne].map((result) => `${formatNumber(result.requests)} (${result.failures})`).join(', '),
    },
  ];
  const failed = [one, three, noWait, waitOne].some((result) => result.failures > 0);
  return {
    id: 'cluster',
    title: 'Redis Cluster ingest',
    baselineName: 'baseline',
    rows,
    ...(failed ? { notes: ['Some requests were not answered 2xx: the figures above count them.'] } : {}),
  };
}
