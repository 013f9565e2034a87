/**
 * Section "memory": Redis bytes per queued delivery. No delivery worker runs, so every delivery
 * stays queued: N signed mix_stop callbacks are stored through the receiver's own store code
 * (CallbackStore, 64 in flight, as the receiver does under load), the router moves them from the
 * intake log to the targets' queues, and `INFO memory` used_memory is compared before and after,
 * divided by the delivery jobs queued. The same for the naive relay's
 * queue (`queue.add` of the parsed body, as bench/naive-relay.ts does), as a baseline. The relay's
 * RSS is measured by the e2e section (bench/e2e.ts), during its runs.
 *
 * Then the bytes of each item docs/SIZING.md counts (bench/memory-items.ts), with the same N.
 *
 * BENCH_MEMORY_CALLBACKS sets N (default 10,000; 2,000 with BENCH_QUICK=1).
 */
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { callbackFields, signedBody } from '../src/cli/simulate-callbacks.js';
import { parseConfig } from '../src/config/load.js';
import { silentLogger } from '../src/lib/logger.js';
import { startRouter } from '../workers/route/router.js';
import { CallbackStore } from '../src/intake/callback-store.js';
import { intakePendingCount } from '../src/intake/stats.js';
import { deleteKeys, usedMemoryBytes } from './lib/redis-memory.js';
import { itemFigures, measureItems } from './memory-items.js';
import type { BenchSection } from './lib/section.js';
import { bytes, formatNumber, type FigureRow, type SectionFigures } from './report.js';

const APP_ID = '111111';
const SECRET = 'memory-bench-secret';
/** Stored before the "before" reading: queue meta keys, script cache and connections exist by then. */
const WARM_UP_CALLBACKS = 200;
const IN_FLIGHT = 64;

export interface QueuedMemory {
  /** Callbacks stored (after the warm-up). */
  callbacks: number;
  /** Delivery jobs they queued (callbacks x matching targets for zego-relay; one per callback for the naive relay). */
  deliveryJobs: number;
  usedMemoryDeltaBytes: number;
  bytesPerDelivery: number;
  bytesPerCallback: number;
}

/** Runs `enqueue(index)` for the warm-up, reads used_memory, runs it `callbacks` times more and reads again. */
async function measureQueued(
  inspector: Redis,
  callbacks: number,
  jobsPerCallback: number,
  enqueue: (index: number) => Promise<unknown>,
  /** Waits until what was enqueued reached its final place (zego-relay: routed to the queues). */
  settle: () => Promise<void> = async () => {},
): Promise<QueuedMemory> {
  let next = 0;
  const runUntil = async (end: number) => {
    const lane = async () => {
      while (next < end) await enqueue(next++);
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  };
  await runUntil(WARM_UP_CALLBACKS);
  await settle();
  const before = await usedMemoryBytes(inspector);
  await runUntil(WARM_UP_CALLBACKS + callbacks);
  await settle();
  const delta = (await usedMemoryBytes(inspector)) - before;
  const deliveryJobs = callbacks * jobsPerCallback;
  return { callbacks, deliveryJobs, usedMemoryDeltaBytes: delta, bytesPerDelivery: delta / deliveryJobs, bytesPerCallback: delta / callbacks };
}

/** zego-relay: the receiver's store and the router with `targets` targets matching every callback, no delivery workers. */
async function measureRelay(redisUrl: string, inspector: Redis, callbacks: number, targets: number): Promise<QueuedMemory> {
  const prefix = `memory-relay-${randomUUID()}`;
  const config = parseConfig(
    JSON.stringify({
      server: { host: '127.0.0.1', port: 0 },
      redis: { url: redisUrl, prefix },
      zego: { apps: [{ appId: APP_ID, callbackSecrets: [SECRET] }] },
      targets: Array.from({ length: targets }, (_unused, index) => ({ name: `t${index}`, url: `http://127.0.0.1:9/t${index}`, events: ['mix_*'] })),
    }),
    { env: {}, source: 'bench/memory' },
  );
  const store = CallbackStore.open(config, silentLogger);
  const router = startRouter(config, { logger: silentLogger });
  const routed = async () => {
    while ((await intakePendingCount(inspector, config)) > 0) await new Promise((resolve) => setTimeout(resolve, 50));
  };
  const runId = randomUUID().replace(/-/g, '').slice(0, 12);
  try {
    return await measureQueued(inspector, callbacks, targets, (index) =>
      store.store({
        callbackId: `cb_${runId}${index}`,
        event: 'mix_stop',
        appId: APP_ID,
        replayKey: `${runId}${index}`,
        body: signedBody(callbackFields('mix_stop', APP_ID, runId, index), SECRET),
      }),
      routed,
    );
  } finally {
    await Promise.all([store.close(), router.close()]);
    await deleteKeys(inspector, `*${prefix}*`);
  }
}

/** The naive relay: one BullMQ job per callback (its worker fans out), body parsed as koa-bodyparser would. */
async function measureNaive(redisUrl: string, inspector: Redis, callbacks: number): Promise<QueuedMemory> {
  const prefix = `memory-naive-${randomUUID()}`;
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue('callbacks', { connection, prefix });
  const runId = randomUUID().slice(0, 8);
  try {
    return await measureQueued(inspector, callbacks, 1, (index) =>
      queue.add('callback', JSON.parse(signedBody(callbackFields('mix_stop', APP_ID, runId, index), SECRET)) as unknown),
    );
  } finally {
    await queue.close();
    connection.disconnect();
    await deleteKeys(inspector, `${prefix}:*`);
  }
}

function memoryFigures(oneTarget: QueuedMemory, fiveTargets: QueuedMemory, naive: QueuedMemory, bodyBytes: number): SectionFigures {
  const rows: FigureRow[] = [
    { measure: 'Redis bytes per queued delivery, 1 target', value: bytes(oneTarget.bytesPerDelivery), baseline: bytes(naive.bytesPerDelivery) },
    { measure: 'Redis bytes per queued delivery, 5 targets', value: bytes(fiveTargets.bytesPerDelivery), baseline: `${bytes(naive.bytesPerCallback)} (one job fans out)` },
    { measure: 'Redis bytes per callback, 5 targets', value: bytes(fiveTargets.bytesPerCallback), baseline: bytes(naive.bytesPerCallback) },
    { measure: 'callbacks queued (delivery jobs)', value: `${formatNumber(oneTarget.callbacks)} (${formatNumber(oneTarget.deliveryJobs)}); 5 targets: ${formatNumber(fiveTargets.callbacks)} (${formatNumber(fiveTargets.deliveryJobs)})`, baseline: `${formatNumber(naive.callbacks)} (${formatNumber(naive.deliveryJobs)})` },
  ];
  return { id: 'redis-memory', title: 'Redis memory per queued delivery', baselineName: 'naive relay', rows, notes: [`A callback body is ${bodyBytes} bytes (a signed mix_stop).`] };
}

export const memorySection: BenchSection = {
  name: 'memory',
  async run(context) {
    const callbacks = Number(process.env.BENCH_MEMORY_CALLBACKS ?? (context.quick ? 2_000 : 10_000));
    const inspector = new Redis(context.redis.url);
    try {
      const oneTarget = await measureRelay(context.redis.url, inspector, callbacks, 1);
      console.log(`zego-relay, 1 target:  ${Math.round(oneTarget.bytesPerDelivery)} bytes per queued delivery (${oneTarget.deliveryJobs} jobs)`);
      const fiveTargets = await measureRelay(context.redis.url, inspector, Math.round(callbacks / 5), 5);
      console.log(`zego-relay, 5 targets: ${Math.round(fiveTargets.bytesPerDelivery)} bytes per queued delivery, ${Math.round(fiveTargets.bytesPerCallback)} per callback (${fiveTargets.deliveryJobs} jobs)`);
      const naive = await measureNaive(context.redis.url, inspector, callbacks);
      console.log(`naive relay:           ${Math.round(naive.bytesPerDelivery)} bytes per queued job (${naive.deliveryJobs} jobs)`);
      const bodyBytes = Buffer.byteLength(signedBody(callbackFields('mix_stop', APP_ID, 'sample', 0), SECRET));
      const items = await measureItems(context.redis.url, inspector, callbacks);
      console.log(`per item: intake entry ${Math.round(items.intakeEntry)} B, marker ${Math.round(items.dedupeMarker)} B, nonce ${Math.round(items.nonceBinding)} B, queued ${Math.round(items.queuedDelivery)} B, dead letter ${Math.round(items.deadLetter)} B, unrouted ${Math.round(items.unroutedCallback)} B`);
      return [memoryFigures(oneTarget, fiveTargets, naive, bodyBytes), itemFigures(items)];
    } finally {
      inspector.disconnect();
    }
  },
};
