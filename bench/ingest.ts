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
    const ratio = receiver.requestsPerSecond / bare.requestsPerSecond;
    console.log(`ratio receiver/bare: ${ratio.toFixed(2)} (goal >= ${INGEST_RATIO_GOAL.toFixed(2)}) ${ratio >= INGEST_RATIO_GOAL ? 'OK' : 'BELOW GOAL'}`);
    if (receiver.failures > 0) console.log(`WARNING: ${receiver.failures} receiver requests were not answered 2xx`);
  },
};
