/**
 * Section "spool": what the receiver's outage spool costs, and what it gives.
 * - While Redis answers, the spool must cost nothing: the receiver role with its spool on against
 *   the same with `spool: false`, both storing into the run's Redis, measured A B B A.
 * - While Redis is down, every callback is fsynced into the spool (concurrent ones share a
 *   fsync): requests/s and latency of the receiver with nothing answering at its Redis URL, a
 *   figure of its own (against Redis up, no goal: a local disk against Redis's AOF).
 * - Then Redis starts on that URL and the spool drains: callbacks moved into Redis per second.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { callbackFields, signedBody } from '../src/cli/simulate-callbacks.js';
import { freePort, startRedisServer } from '../src/dev/redis-process.js';
import { intakeKeys } from '../src/shared/names.js';
import { startChildServer, type ChildServer } from './lib/child-server.js';
import { formatRow, measureLoad, type LoadResult } from './lib/load.js';
import type { BenchContext, BenchSection } from './lib/section.js';
import { formatNumber, milliseconds, perSecond, ratioOf, verdict, type SectionFigures } from './report.js';
import { meanOf } from './ingest.js';

const APP_ID = '111111';
const SECRET = 'bench-secret';
/** Receiver with its spool against without, Redis up: the spool must cost nothing. */
export const SPOOL_IDLE_RATIO_GOAL = 0.95;
const DRAIN_TIMEOUT_MS = 300_000;

interface Receiver {
  readonly server: ChildServer;
  readonly prefix: string;
  readonly spoolDir: string | undefined;
}

async function startReceiver(redisUrl: string, spool: boolean): Promise<Receiver> {
  const prefix = `bench-${randomUUID()}`;
  const spoolDir = spool ? mkdtempSync(join(tmpdir(), 'zego-relay-bench-spool-')) : undefined;
  const server = await startChildServer(new URL('./lib/receiver-server.js', import.meta.url), {
    BENCH_REDIS_URL: redisUrl, BENCH_PREFIX: prefix, BENCH_APP_ID: APP_ID, BENCH_SECRET: SECRET, ...(spoolDir ? { BENCH_SPOOL_DIR: spoolDir } : {}),
  });
  return { server, prefix, spoolDir };
}

async function load(receiver: Receiver, context: BenchContext): Promise<LoadResult> {
  const runId = randomUUID().slice(0, 8);
  let index = 0;
  return measureLoad({
    url: `http://127.0.0.1:${receiver.server.port}/zego/callback`,
    nextBody: () => signedBody(callbackFields('mix_stop', APP_ID, runId, index++), SECRET),
    durationSeconds: context.durationSeconds,
    warmupSeconds: context.warmupSeconds,
  });
}

async function stop(receiver: Receiver): Promise<void> {
  await receiver.server.stop();
  if (receiver.spoolDir) rmSync(receiver.spoolDir, { recursive: true, force: true });
}

async function measured(redisUrl: string, spool: boolean, context: BenchContext): Promise<LoadResult> {
  const receiver = await startReceiver(redisUrl, spool);
  try {
    return await load(receiver, context);
  } finally {
    await stop(receiver);
  }
}

/** Load while nothing answers at the receiver's Redis URL; then Redis starts there and the spool drains. */
async function outage(context: BenchContext): Promise<{ spooling: LoadResult; drained: number; drainMs: number }> {
  const port = await freePort();
  const receiver = await startReceiver(`redis://127.0.0.1:${port}`, true);
  try {
    const spooling = await load(receiver, context);
    const redis = await startRedisServer({ port, appendfsync: 'always' });
    const started = Date.now();
    try {
      const spoolFiles = () => readdirSync(receiver.spoolDir!).filter((name) => name.endsWith('.spool'));
      while (spoolFiles().length > 0 && Date.now() - started < DRAIN_TIMEOUT_MS) await sleep(50);
      const drainMs = Date.now() - started;
      const client = new Redis(redis.url);
      const drained = await client.xlen(intakeKeys(receiver.prefix, 0).stream).finally(() => client.disconnect());
      return { spooling, drained, drainMs };
    } finally {
      await stop(receiver);
      await redis.stop();
    }
  } catch (error) {
    await stop(receiver);
    throw error;
  }
}

export const spoolSection: BenchSection = {
  name: 'spool',
  async run(context) {
    const url = context.redis.url;
    // A B B A, as in the ingest section: drift weighs on both.
    const onFirst = await measured(url, true, context);
    const offFirst = await measured(url, false, context);
    const offSecond = await measured(url, false, context);
    const onSecond = await measured(url, true, context);
    const on = meanOf(onFirst, onSecond);
    const off = meanOf(offFirst, offSecond);
    console.log(formatRow('receiver, spool on, Redis up', on));
    console.log(formatRow('receiver, spool off, Redis up', off));
    const idle = ratioOf(on.requestsPerSecond, off.requestsPerSecond);
    console.log(`ratio spool on/off while Redis answers: ${idle.toFixed(2)} (goal >= ${SPOOL_IDLE_RATIO_GOAL.toFixed(2)}) ${verdict(idle, SPOOL_IDLE_RATIO_GOAL)}`);
    const { spooling, drained, drainMs } = await outage(context);
    console.log(formatRow('receiver, Redis down, spooling', spooling));
    console.log(`spool drained: ${drained} callbacks into Redis in ${drainMs} ms`);
    const failures = [on, off, spooling].reduce((sum, result) => sum + result.failures, 0);
    const figures: SectionFigures = {
      id: 'spool',
      title: 'Outage spool',
      baselineName: 'baseline',
      rows: [
        { measure: 'requests/s, Redis up: spool on vs off', value: perSecond(on.requestsPerSecond), baseline: perSecond(off.requestsPerSecond), ratio: idle, goal: SPOOL_IDLE_RATIO_GOAL },
        { measure: 'requests/s, Redis down (spooling) vs Redis up', value: perSecond(spooling.requestsPerSecond), baseline: perSecond(on.requestsPerSecond), ratio: ratioOf(spooling.requestsPerSecond, on.requestsPerSecond) },
        { measure: 'latency p50, spooling (vs Redis up)', value: milliseconds(spooling.p50Ms), baseline: milliseconds(on.p50Ms) },
        { measure: 'latency p99, spooling (vs Redis up)', value: milliseconds(spooling.p99Ms), baseline: milliseconds(on.p99Ms) },
        { measure: 'drain, from Redis starting (reconnect included)', value: `${perSecond((drained * 1000) / Math.max(1, drainMs))} (${formatNumber(drained)} in ${formatNumber(drainMs / 1000, 1)} s)` },
      ],
      ...(failures > 0 ? { notes: [`${failures} requests were not answered 2xx: the figures above count them.`] } : {}),
    };
    return [figures];
  },
};
