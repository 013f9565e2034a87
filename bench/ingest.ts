/**
 * Section "ingest": requests/s of the receiver role, 50 connections, every request a new signed
 * mix_stop callback, Redis with appendfsync always. Baselines measured in the same run:
 * - a bare Koa JSON endpoint (koa-bodyparser, nothing stored): the ceiling of any Koa receiver;
 * - a naive enqueue endpoint (Koa + koa-bodyparser + one BullMQ queue.add, no checks at all).
 * The receiver is measured with one and with five matching targets: its cost must not grow with
 * the targets (the router fans out after the answer).
 * Goals (issue 8): receiver / naive enqueue >= 1.0; receiver with 5 targets / with 1 >= 0.9;
 * receiver / bare: aim for 0.35 or better.
 */
import { randomUUID } from 'node:crypto';
import { callbackFields, signedBody } from '../src/cli/simulate-callbacks.js';
import { startChildServer } from './lib/child-server.js';
import { formatRow, measureLoad, type LoadResult } from './lib/load.js';
import type { BenchContext, BenchSection } from './lib/section.js';
import { formatNumber, milliseconds, perSecond, ratioOf, type FigureRow, type SectionFigures } from './report.js';

const APP_ID = '111111';
const SECRET = 'bench-secret';
export const INGEST_NAIVE_RATIO_GOAL = 1.0;
export const INGEST_FANOUT_RATIO_GOAL = 0.9;
export const INGEST_BARE_RATIO_AIM = 0.35;

export async function measureServer(module: string, env: Record<string, string>, path: string, context: BenchContext): Promise<LoadResult> {
  const server = await startChildServer(new URL(module, import.meta.url), env);
  const runId = randomUUID().slice(0, 8);
  let index = 0;
  try {
    return await measureLoad({
      url: `http://127.0.0.1:${server.port}${path}`,
      nextBody: () => signedBody(callbackFields('mix_stop', APP_ID, runId, index++), SECRET),
      durationSeconds: context.durationSeconds,
      warmupSeconds: context.warmupSeconds,
    });
  } finally {
    await server.stop();
  }
}

/** The mean of two runs of one server (requests and failures added up). */
export function meanOf(first: LoadResult, second: LoadResult): LoadResult {
  return {
    ...first,
    requestsPerSecond: (first.requestsPerSecond + second.requestsPerSecond) / 2,
    p50Ms: (first.p50Ms + second.p50Ms) / 2,
    p99Ms: Math.max(first.p99Ms, second.p99Ms),
    requests: first.requests + second.requests,
    failures: first.failures + second.failures,
  };
}

function verdict(ratio: number, goal: number): string {
  return `${ratio.toFixed(2)} (goal >= ${goal.toFixed(2)}) ${ratio >= goal ? 'OK' : 'BELOW GOAL'}`;
}

export const ingestSection: BenchSection = {
  name: 'ingest',
  async run(context) {
    const redisEnv = () => ({ BENCH_REDIS_URL: context.redis.url, BENCH_PREFIX: `bench-${randomUUID()}` });
    const bare = await measureServer('./lib/bare-server.js', {}, '/', context);
    console.log(formatRow('bare Koa JSON endpoint', bare));
    const naive = await measureServer('./lib/naive-enqueue-server.js', redisEnv(), '/', context);
    console.log(formatRow('naive enqueue (Koa + queue.add)', naive));
    const receiverWith = async (targets: number) =>
      measureServer(
        './lib/receiver-server.js',
        { ...redisEnv(), BENCH_APP_ID: APP_ID, BENCH_SECRET: SECRET, BENCH_TARGETS: String(targets) },
        '/zego/callback',
        context,
      );
    // A B B A: whatever drifts during the section (Redis's AOF growing, the machine's load) weighs
    // on both equally, and each figure is the mean of its two runs.
    const oneFirst = await receiverWith(1);
    const fiveFirst = await receiverWith(5);
    const fiveSecond = await receiverWith(5);
    const oneSecond = await receiverWith(1);
    const one = meanOf(oneFirst, oneSecond);
    const five = meanOf(fiveFirst, fiveSecond);
    console.log(formatRow('receiver role, 1 target', one));
    console.log(formatRow('receiver role, 5 targets', five));

    const toNaive = ratioOf(one.requestsPerSecond, naive.requestsPerSecond);
    const fanOut = ratioOf(five.requestsPerSecond, one.requestsPerSecond);
    const toBare = ratioOf(one.requestsPerSecond, bare.requestsPerSecond);
    console.log(`ratio receiver/naive enqueue: ${verdict(toNaive, INGEST_NAIVE_RATIO_GOAL)}`);
    console.log(`ratio receiver 5 targets/1 target: ${verdict(fanOut, INGEST_FANOUT_RATIO_GOAL)}`);
    console.log(`ratio receiver/bare Koa: ${verdict(toBare, INGEST_BARE_RATIO_AIM)} (an aim, not a goal)`);
    const failures = [bare, naive, one, five].reduce((sum, result) => sum + result.failures, 0);
    if (failures > 0) console.log(`WARNING: ${failures} requests were not answered 2xx`);
    return [ingestFigures({ bare, naive, one, five })];
  },
};

function ingestFigures(runs: { bare: LoadResult; naive: LoadResult; one: LoadResult; five: LoadResult }): SectionFigures {
  const { bare, naive, one, five } = runs;
  const rps = (result: LoadResult) => perSecond(result.requestsPerSecond);
  const rows: FigureRow[] = [
    { measure: 'requests/s, 1 target vs naive enqueue', value: rps(one), baseline: rps(naive), ratio: ratioOf(one.requestsPerSecond, naive.requestsPerSecond), goal: INGEST_NAIVE_RATIO_GOAL },
    { measure: 'requests/s, 5 targets vs 1 target', value: rps(five), baseline: rps(one), ratio: ratioOf(five.requestsPerSecond, one.requestsPerSecond), goal: INGEST_FANOUT_RATIO_GOAL },
    { measure: 'requests/s, 1 target vs bare Koa (aim 0.35)', value: rps(one), baseline: rps(bare), ratio: ratioOf(one.requestsPerSecond, bare.requestsPerSecond) },
    { measure: 'latency p50 (vs naive enqueue)', value: milliseconds(one.p50Ms), baseline: milliseconds(naive.p50Ms) },
    { measure: 'latency p99 (vs naive enqueue)', value: milliseconds(one.p99Ms), baseline: milliseconds(naive.p99Ms) },
    { measure: 'requests measured (not 2xx)', value: `${formatNumber(one.requests)} (${one.failures})`, baseline: `${formatNumber(naive.requests)} (${naive.failures})` },
  ];
  const failed = [bare, naive, one, five].some((result) => result.failures > 0);
  return {
    id: 'ingest',
    title: 'Ingest',
    baselineName: 'baseline',
    rows,
    ...(failed ? { notes: ['Some requests were not answered 2xx: the figures above count them.'] } : {}),
  };
}
