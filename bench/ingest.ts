/**
 * Section "ingest": requests/s of the receiver role against a bare Koa JSON endpoint on the same
 * machine, 50 connections, every request a new signed mix_stop callback, Redis with appendfsync
 * always. Goal (issue 2): receiver / bare >= 0.40.
 */
import { randomUUID } from 'node:crypto';
import { callbackFields, signedBody } from '../src/cli/simulate-callbacks.js';
import { startChildServer } from './lib/child-server.js';
import { formatRow, measureLoad, type LoadResult } from './lib/load.js';
import type { BenchContext, BenchSection } from './lib/section.js';
import { formatNumber, milliseconds, perSecond, ratioOf, type SectionFigures } from './report.js';

const APP_ID = '111111';
const SECRET = 'bench-secret';
/** Issue 2's target for receiver / bare. */
export const INGEST_RATIO_GOAL = 0.4;

async function measureServer(module: string, env: Record<string, string>, path: string, context: BenchContext): Promise<LoadResult> {
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

export const ingestSection: BenchSection = {
  name: 'ingest',
  async run(context) {
    const bare = await measureServer('./lib/bare-server.js', {}, '/', context);
    console.log(formatRow('bare Koa JSON endpoint', bare));
    const receiver = await measureServer(
      './lib/receiver-server.js',
      { BENCH_REDIS_URL: context.redis.url, BENCH_PREFIX: `bench-${randomUUID()}`, BENCH_APP_ID: APP_ID, BENCH_SECRET: SECRET },
      '/zego/callback',
      context,
    );
    console.log(formatRow('receiver role (stores each)', receiver));
    const ratio = ratioOf(receiver.requestsPerSecond, bare.requestsPerSecond);
    console.log(`ratio receiver/bare: ${ratio.toFixed(2)} (goal >= ${INGEST_RATIO_GOAL.toFixed(2)}) ${ratio >= INGEST_RATIO_GOAL ? 'OK' : 'BELOW GOAL'}`);
    if (receiver.failures > 0) console.log(`WARNING: ${receiver.failures} receiver requests were not answered 2xx`);
    return [ingestFigures(bare, receiver)];
  },
};

function ingestFigures(bare: LoadResult, receiver: LoadResult): SectionFigures {
  const failed = [receiver, bare].some((result) => result.failures > 0);
  return {
    id: 'ingest',
    title: 'Ingest',
    baselineName: 'bare Koa',
    rows: [
      { measure: 'requests/s', value: perSecond(receiver.requestsPerSecond), baseline: perSecond(bare.requestsPerSecond), ratio: ratioOf(receiver.requestsPerSecond, bare.requestsPerSecond), goal: INGEST_RATIO_GOAL },
      { measure: 'latency p50', value: milliseconds(receiver.p50Ms), baseline: milliseconds(bare.p50Ms) },
      { measure: 'latency p99', value: milliseconds(receiver.p99Ms), baseline: milliseconds(bare.p99Ms) },
      { measure: 'requests measured (not 2xx)', value: `${formatNumber(receiver.requests)} (${receiver.failures})`, baseline: `${formatNumber(bare.requests)} (${bare.failures})` },
    ],
    ...(failed ? { notes: ['Some requests were not answered 2xx: the figures above count them.'] } : {}),
  };
}
