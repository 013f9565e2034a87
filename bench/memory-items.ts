/**
 * Part of section "memory": Redis bytes per item, the figures docs/SIZING.md's formula uses. Each
 * item is measured in its own key prefix, after a warm-up, as INFO used_memory after minus before,
 * divided by the items made:
 * - an intake log entry (a callback acknowledged and not yet routed): N callbacks stored with no
 *   router running, markers deleted;
 * - the de-duplication marker and the replay-key binding of a callback: N callbacks stored and routed
 *   to one target (no worker delivers), then the N seen markers deleted, then the N replay keys;
 * - a queued delivery without its callback's markers: what is left of that after the deletions;
 * - a dead letter: N callbacks stored, routed and attempted once against a target that refuses
 *   connections (an empty retry schedule: dead at the first failure), markers deleted;
 * - an unrouted callback: N callbacks no target matches, archived by the worker role, markers deleted.
 * AOF growth per callback is read from INFO persistence aof_current_size with automatic AOF
 * rewrites off for the measurement (restored after), so a rewrite cannot shrink the file midway.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { callbackFields, signedBody } from '../src/cli/simulate-callbacks.js';
import { startWorkers } from '../workers/role.js';
import { parseConfig, type RelayConfig } from '../src/config/load.js';
import { silentLogger } from '../src/lib/logger.js';
import { startRouter } from '../workers/route/router.js';
import { intakeKeys, replayKey, deliveryQueueName, UNROUTED_QUEUE } from '../src/shared/names.js';
import { CallbackStore } from '../src/intake/callback-store.js';
import { intakePendingCount } from '../src/intake/stats.js';
import { queueOptions } from '../src/redis/queues.js';
import { deleteKeys, usedMemoryBytes } from './lib/redis-memory.js';
import { bytes, formatNumber, type SectionFigures } from './report.js';

const APP_ID = '111111';
const SECRET = 'memory-bench-secret';
const WARM_UP_CALLBACKS = 200;
const IN_FLIGHT = 64;

export interface ItemMemory {
  callbacks: number;
  intakeEntry: number;
  dedupeMarker: number;
  nonceBinding: number;
  queuedDelivery: number;
  deadLetter: number;
  unroutedCallback: number;
  aofPerRoutedCallback: number;
  aofPerDeadLetteredCallback: number;
}

interface Stored {
  callbackId: string;
  replayKey: string;
}

/** A config on its own prefix: one target `t0` taking `events`, failing at once, never paused by its breaker. */
function itemConfig(redisUrl: string, events: string[]): RelayConfig {
  return parseConfig(
    JSON.stringify({
      server: { host: '127.0.0.1', port: 0 },
      redis: { url: redisUrl, prefix: `memory-items-${randomUUID()}` },
      zego: { apps: [{ appId: APP_ID, callbackSecrets: [SECRET] }] },
      retention: { unroutedCount: 10_000_000 },
      targets: [{ name: 't0', url: 'http://127.0.0.1:9/t0', events, retry: { schedule: [] }, breaker: false }],
    }),
    { env: {}, source: 'bench/memory-items' },
  );
}

/** Stores `count` signed mix_stop callbacks through the receiver's store, 64 in flight. */
async function storeCallbacks(config: RelayConfig, count: number): Promise<Stored[]> {
  const store = CallbackStore.open(config, silentLogger);
  const runId = randomUUID().replace(/-/g, '').slice(0, 12);
  const stored = Array.from({ length: count }, (_unused, index) => ({ callbackId: `cb_${runId}${index}`, replayKey: createHash('sha1').update(`${runId}${index}`).digest('hex'), index }));
  let next = 0;
  const lane = async () => {
    while (next < stored.length) {
      const { callbackId, replayKey: key, index } = stored[next++]!;
      await store.store({ callbackId, event: 'mix_stop', appId: APP_ID, replayKey: key, body: signedBody(callbackFields('mix_stop', APP_ID, runId, index), SECRET) });
    }
  };
  try {
    await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  } finally {
    await store.close();
  }
  return stored;
}

async function until(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 50));
}

async function aofBytes(inspector: Redis): Promise<number> {
  return Number(/aof_current_size:(\d+)/.exec(await inspector.info('persistence'))?.[1] ?? Number.NaN);
}

/** Deletes the seen markers, then the replay-key bindings, of `callbacks`; returns used_memory after each step. */
async function deleteMarkers(inspector: Redis, config: RelayConfig, callbacks: Stored[]): Promise<{ afterSeen: number; afterNonces: number }> {
  const prefix = config.redis.prefix;
  for (let start = 0; start < callbacks.length; start += 1_000) {
    await inspector.unlink(...callbacks.slice(start, start + 1_000).map(({ callbackId }) => intakeKeys(prefix, 0).seen(callbackId)));
  }
  const afterSeen = await usedMemoryBytes(inspector);
  for (let start = 0; start < callbacks.length; start += 1_000) {
    await inspector.unlink(...callbacks.slice(start, start + 1_000).map((callback) => replayKey(prefix, callback.replayKey)));
  }
  return { afterSeen, afterNonces: await usedMemoryBytes(inspector) };
}

/** An intake log entry: stored while no router runs (the worker role is down), markers apart. */
async function measureIntake(redisUrl: string, inspector: Redis, callbacks: number): Promise<number> {
  const config = itemConfig(redisUrl, ['mix_*']);
  try {
    await storeCallbacks(config, WARM_UP_CALLBACKS);
    const before = await usedMemoryBytes(inspector);
    const stored = await storeCallbacks(config, callbacks);
    const { afterNonces } = await deleteMarkers(inspector, config, stored);
    return (afterNonces - before) / callbacks;
  } finally {
    await deleteKeys(inspector, `*${config.redis.prefix}*`);
  }
}

/** Markers and a queued delivery: stored and routed to one target, no delivery worker. */
async function measureQueued(redisUrl: string, inspector: Redis, callbacks: number) {
  const config = itemConfig(redisUrl, ['mix_*']);
  const router = startRouter(config, { logger: silentLogger });
  const routed = () => until(async () => (await intakePendingCount(inspector, config)) === 0);
  try {
    await storeCallbacks(config, WARM_UP_CALLBACKS);
    await routed();
    const [before, aofBefore] = [await usedMemoryBytes(inspector), await aofBytes(inspector)];
    const stored = await storeCallbacks(config, callbacks);
    await routed();
    const [after, aofAfter] = [await usedMemoryBytes(inspector), await aofBytes(inspector)];
    const { afterSeen, afterNonces } = await deleteMarkers(inspector, config, stored);
    return {
      dedupeMarker: (after - afterSeen) / callbacks,
      nonceBinding: (afterSeen - afterNonces) / callbacks,
      queuedDelivery: (afterNonces - before) / callbacks,
      aofPerRoutedCallback: (aofAfter - aofBefore) / callbacks,
    };
  } finally {
    await router.close();
    await deleteKeys(inspector, `*${config.redis.prefix}*`);
  }
}

/** What `callbacks` cost once the worker role has finished with them (dead-lettered or archived), markers apart. */
async function measureFinished(redisUrl: string, inspector: Redis, callbacks: number, kind: 'dead' | 'unrouted') {
  // Dead letters: t0 takes mix_stop and fails it. Unrouted: t0 takes only mix_start.
  const config = itemConfig(redisUrl, kind === 'dead' ? ['mix_stop'] : ['mix_start']);
  const queueName = kind === 'dead' ? deliveryQueueName('t0') : UNROUTED_QUEUE;
  const state = kind === 'dead' ? 'failed' : 'completed';
  const queue = new Queue(queueName, queueOptions(config, queueName, inspector));
  const finished = (count: number) => until(async () => ((await queue.getJobCounts(state))[state] ?? 0) >= count);
  const workers = await startWorkers(config, { logger: silentLogger });
  try {
    await storeCallbacks(config, WARM_UP_CALLBACKS);
    await finished(WARM_UP_CALLBACKS);
    const [before, aofBefore] = [await usedMemoryBytes(inspector), await aofBytes(inspector)];
    const stored = await storeCallbacks(config, callbacks);
    await finished(WARM_UP_CALLBACKS + callbacks);
    const aofAfter = await aofBytes(inspector);
    const { afterNonces } = await deleteMarkers(inspector, config, stored);
    return { perItem: (afterNonces - before) / callbacks, aofPerCallback: (aofAfter - aofBefore) / callbacks };
  } finally {
    await workers.close();
    await queue.close();
    await deleteKeys(inspector, `*${config.redis.prefix}*`);
  }
}

/** Measures every item with automatic AOF rewrites off (restored after). */
export async function measureItems(redisUrl: string, inspector: Redis, callbacks: number): Promise<ItemMemory> {
  const [, rewritePercentage] = (await inspector.config('GET', 'auto-aof-rewrite-percentage')) as string[];
  await inspector.config('SET', 'auto-aof-rewrite-percentage', '0');
  try {
    const intakeEntry = await measureIntake(redisUrl, inspector, callbacks);
    const queued = await measureQueued(redisUrl, inspector, callbacks);
    const dead = await measureFinished(redisUrl, inspector, callbacks, 'dead');
    const unrouted = await measureFinished(redisUrl, inspector, callbacks, 'unrouted');
    return {
      callbacks,
      intakeEntry,
      ...queued,
      deadLetter: dead.perItem,
      unroutedCallback: unrouted.perItem,
      aofPerDeadLetteredCallback: dead.aofPerCallback,
    };
  } finally {
    await inspector.config('SET', 'auto-aof-rewrite-percentage', rewritePercentage ?? '100');
  }
}

export function itemFigures(items: ItemMemory): SectionFigures {
  return {
    id: 'redis-sizing',
    title: 'Redis memory per item',
    rows: [
      { measure: 'de-duplication marker, per callback (kept zego.dedupeWindow)', value: bytes(items.dedupeMarker) },
      { measure: 'replay-key binding, per callback (kept 2 x tolerance + 60 s)', value: bytes(items.nonceBinding) },
      { measure: 'intake log entry: acknowledged, not yet routed (without the markers)', value: bytes(items.intakeEntry) },
      { measure: 'queued delivery, per target (without the markers)', value: bytes(items.queuedDelivery) },
      { measure: 'dead letter, per target (without the markers)', value: bytes(items.deadLetter) },
      { measure: 'unrouted callback (without the markers)', value: bytes(items.unroutedCallback) },
      { measure: 'AOF bytes appended per callback, stored and routed to 1 target', value: bytes(items.aofPerRoutedCallback) },
      { measure: 'AOF bytes appended per callback, stored, routed and dead-lettered at the first attempt', value: bytes(items.aofPerDeadLetteredCallback) },
      { measure: 'callbacks per item measured', value: formatNumber(items.callbacks) },
    ],
  };
}
