/**
 * Backlog: one target down while N deliveries (100,000 in `npm run bench`) pile up for it, then it
 * returns and the backlog drains. Meanwhile a second, healthy target gets a steady trickle of
 * callbacks whose delivery latency is measured in each phase (baseline, pile-up, drain), and the
 * relay's RSS is sampled. The relay is the real CLI (`start --role all`) in its own process; the
 * backlog is enqueued fast through the receiver's own store code (CallbackStore), not over HTTP.
 *
 * While down, the target refuses connections and the relay retries the whole backlog against it
 * on a short schedule (1 s .. 10 s): the worst case for the relay's CPU, and so for the healthy
 * target's latency. `backlog(ctx)` / `backlogSection` are bench/run.ts's; test/system/backlog.test.ts runs
 * `runBacklog` scaled down.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { callbackFields, signedBody } from '../src/cli/simulate-callbacks.js';
import { parseConfig } from '../src/config/load.js';
import { silentLogger } from '../src/lib/logger.js';
import { CallbackStore } from '../src/intake/callback-store.js';
import { startRelayCli, type RelayCli } from './lib/relay-cli.js';
import type { BenchContext, BenchSection } from './lib/section.js';

const APP_ID = '111111';
const SECRET = 'backlog-bench-secret';

export interface BacklogOptions {
  redisUrl: string;
  /** Deliveries piled up for the down target. @defaultValue 100000 */
  jobs?: number;
  /** Callbacks a second routed to the healthy target, in every phase. @defaultValue 20 */
  probesPerSecond?: number;
  /** Seconds measured before the target goes down. @defaultValue 5 */
  baselineSeconds?: number;
  /** Seconds the target stays down after the last delivery was queued. @defaultValue 5 */
  extraDownSeconds?: number;
  /** The down target's retry schedule. @defaultValue 1s, 2s, 4s, 8s, then 10s x 40 (about 7 minutes) */
  retrySchedule?: string[];
  /** Give up waiting for the drain after this long. @defaultValue 600 */
  drainTimeoutSeconds?: number;
  /** Store calls in flight while piling up. @defaultValue 64 */
  enqueueConcurrency?: number;
  log?: (line: string) => void;
}

export interface LatencyFigures {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface BacklogResult {
  jobs: number;
  pileUpSeconds: number;
  enqueuedPerSecond: number;
  /** From the target's return until it had taken every piled-up delivery. */
  drainSeconds: number;
  drainedPerSecond: number;
  /** False when the drain timed out. */
  drained: boolean;
  /** 2xx deliveries of a callback the target had already taken. */
  duplicateDeliveries: number;
  rssMb: {
    start: number;
    peak: number;
    end: number;
    /** Lowest and highest sample of each phase: flat means the pile-up and drain ranges match, whatever the backlog size. */
    phases: Record<Phase, { min: number; max: number }>;
    samples: { second: number; mb: number; phase: Phase }[];
  };
  /** Redis used_memory per queued delivery at the peak of the backlog. */
  redisBytesPerQueuedDelivery: number;
  /** The healthy target's delivery latency (callback stored -> target received) per phase. */
  healthyLatency: Record<Phase, LatencyFigures>;
  /** Probe callbacks the healthy target never received. */
  probesMissing: number;
  /** Probe callbacks the store refused (Redis did not confirm in time): not sent, not counted as missing. */
  probesRefused: number;
  /** Backlog writes the store refused and that were written again (a duplicate when the first had landed). */
  enqueueRetries: number;
}

export type Phase = 'baseline' | 'pileUp' | 'drain';

/** A target on 127.0.0.1 that answers 200 and can go down (port closed) and come back. */
interface CountingTarget {
  url: string;
  /** webhook-id -> Date.now() of its first arrival. */
  firstArrival: Map<string, number>;
  /** 2xx answers in all (duplicates included). */
  answered: number;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

async function countingTarget(): Promise<CountingTarget> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      const id = String(request.headers['webhook-id']);
      if (!target.firstArrival.has(id)) target.firstArrival.set(id, Date.now());
      target.answered += 1;
      response.writeHead(200).end();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const listen = (port: number) => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  const stop = () => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy();
    server.close(() => resolve());
  });
  const target: CountingTarget = {
    url: `http://127.0.0.1:${port}/hook`,
    firstArrival: new Map(),
    answered: 0,
    down: stop,
    up: () => listen(port),
    close: async () => {
      if (server.listening) await stop();
    },
  };
  return target;
}

/** The largest value, without spreading them into arguments (a million would overflow the stack). */
export function maxOf(values: Iterable<number>): number {
  let max = -Infinity;
  for (const value of values) if (value > max) max = value;
  return max;
}

/** A probe sent to the healthy target: when, and in which phase. */
export interface ProbeSent {
  at: number;
  phase: Phase;
}

/**
 * The healthy target's trickle: one callback every `intervalMs` through `store`, until stop().
 * It never throws: a write the store refuses (Redis busy or gone) is counted, not sent, and the
 * loop goes on, so a long run under load keeps its report. stop() resolves once the loop has
 * ended, which must come before the store is closed.
 */
export function probeTrickle(options: {
  store: Pick<CallbackStore, 'store'>;
  intervalMs: number;
  runId: string;
  phase: () => Phase;
}): { sent: Map<string, ProbeSent>; refused(): number; stop(): Promise<void> } {
  const sent = new Map<string, ProbeSent>();
  let refused = 0;
  let running = true;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    for (let index = 0; running; index += 1) {
      const callbackId = `cb_probe${options.runId}${index}`;
      const at = Date.now();
      const phase = options.phase();
      const fields = callbackFields('mix_start', APP_ID, options.runId, index);
      try {
        await options.store.store({ callbackId, event: 'mix_start', appId: APP_ID, replayKey: `p${options.runId}${index}`, body: signedBody(fields, SECRET) });
        sent.set(callbackId, { at, phase });
      } catch {
        refused += 1;
      }
      if (!running) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  })();
  return {
    sent,
    refused: () => refused,
    stop() {
      running = false;
      wake?.();
      return loop;
    },
  };
}

function latency(values: number[]): LatencyFigures {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { count: sorted.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sorted.at(-1) ?? 0 };
}

const mb = (bytes: number | undefined) => Math.round(((bytes ?? 0) / 1024 / 1024) * 10) / 10;

async function usedMemory(redis: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0);
}

/** Runs the scenario and returns its figures (progress goes to `log`). */
export async function runBacklog(options: BacklogOptions): Promise<BacklogResult> {
  const jobs = options.jobs ?? 100_000;
  const log = options.log ?? (() => {});
  const directory = mkdtempSync(join(tmpdir(), 'zego-relay-backlog-'));
  const backlogged = await countingTarget();
  const healthy = await countingTarget();
  const inspector = new Redis(options.redisUrl);
  let relay: RelayCli | undefined;
  let store: CallbackStore | undefined;
  let probes: ReturnType<typeof probeTrickle> | undefined;
  let sampler: NodeJS.Timeout | undefined;
  const prefix = `backlog-${randomUUID()}`;
  try {
    const configText = JSON.stringify({
      server: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      redis: { url: options.redisUrl, prefix },
      // The outage spool as in production, in this run's directory rather than the working one.
      spool: { dir: join(directory, 'spool') },
      zego: { apps: [{ appId: APP_ID, callbackSecrets: [SECRET] }] },
      targets: [
        { name: 'backlogged', url: backlogged.url, events: ['mix_stop'], timeout: '2s', retry: { schedule: options.retrySchedule ?? ['1s', '2s', '4s', '8s', ...Array<string>(40).fill('10s')], jitter: 0.2 } },
        { name: 'healthy', url: healthy.url, events: ['mix_start'], timeout: '2s', retry: { schedule: ['100ms', '500ms', '1s'], jitter: 0.2 } },
      ],
    });
    const configFile = join(directory, 'relay.yaml');
    writeFileSync(configFile, configText);
    relay = await startRelayCli({ configFile, redisUrl: options.redisUrl });
    store = CallbackStore.open(parseConfig(configText, { env: {}, source: configFile }), silentLogger);

    const runId = randomUUID().replace(/-/g, '').slice(0, 12);
    const started = Date.now();
    let phase: Phase = 'baseline';
    const samples: BacklogResult['rssMb']['samples'] = [];
    const sample = () => samples.push({ second: Math.round((Date.now() - started) / 100) / 10, mb: mb(relay?.rssBytes()), phase });
    sample();
    sampler = setInterval(sample, 500);

    // The healthy target's trickle, in every phase.
    probes = probeTrickle({ store, intervalMs: 1000 / (options.probesPerSecond ?? 20), runId, phase: () => phase });

    await sleep((options.baselineSeconds ?? 5) * 1000);
    const memoryBefore = await usedMemory(inspector);
    await backlogged.down();
    phase = 'pileUp';
    log(`backlog: target down; queueing ${jobs} deliveries`);
    const pileUpStarted = Date.now();
    let next = 0;
    let enqueueRetries = 0;
    const lane = async () => {
      while (next < jobs) {
        const index = next++;
        const fields = callbackFields('mix_stop', APP_ID, runId, index);
        const callback = { callbackId: `cb_${runId}${index}`, event: 'mix_stop', appId: APP_ID, replayKey: `${runId}${index}`, body: signedBody(fields, SECRET) };
        // Redis busy past the store's deadline: write it again, as ZEGO would (a duplicate if it had landed).
        for (let tries = 1; ; tries += 1) {
          try {
            await store!.store(callback);
            break;
          } catch (error) {
            if (tries >= 20) throw error;
            enqueueRetries += 1;
            await sleep(100);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: options.enqueueConcurrency ?? 64 }, lane));
    const pileUpSeconds = (Date.now() - pileUpStarted) / 1000;
    const redisBytesPerQueuedDelivery = Math.round((await usedMemory(inspector) - memoryBefore) / jobs);
    log(`backlog: ${jobs} queued in ${pileUpSeconds.toFixed(1)} s; relay RSS ${mb(relay.rssBytes())} MB`);
    await sleep((options.extraDownSeconds ?? 5) * 1000);

    await backlogged.up();
    phase = 'drain';
    const upAt = Date.now();
    const drainDeadline = upAt + (options.drainTimeoutSeconds ?? 600) * 1000;
    let lastReport = upAt;
    while (backlogged.firstArrival.size < jobs && Date.now() < drainDeadline) {
      await sleep(100);
      if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        log(`backlog: drained ${backlogged.firstArrival.size} of ${jobs}; relay RSS ${mb(relay.rssBytes())} MB`);
      }
    }
    const drained = backlogged.firstArrival.size >= jobs;
    const drainSeconds = ((drained ? maxOf(backlogged.firstArrival.values()) : Date.now()) - upAt) / 1000;
    await probes.stop();
    await sleep(1_000); // the last probes' deliveries
    clearInterval(sampler);
    sample();

    const byPhase: Record<Phase, number[]> = { baseline: [], pileUp: [], drain: [] };
    let probesMissing = 0;
    for (const [id, sent] of probes.sent) {
      const arrived = healthy.firstArrival.get(id);
      if (arrived === undefined) probesMissing += 1;
      else byPhase[sent.phase].push(arrived - sent.at);
    }
    const rss = samples.map((entry) => entry.mb).filter((value) => value > 0);
    const range = (wanted: Phase) => {
      const values = samples.filter((entry) => entry.phase === wanted && entry.mb > 0).map((entry) => entry.mb);
      return { min: Math.min(...values), max: Math.max(...values) };
    };
    return {
      jobs,
      pileUpSeconds,
      enqueuedPerSecond: Math.round(jobs / pileUpSeconds),
      drainSeconds,
      drainedPerSecond: Math.round(backlogged.firstArrival.size / drainSeconds),
      drained,
      duplicateDeliveries: backlogged.answered - backlogged.firstArrival.size,
      rssMb: { start: rss[0] ?? 0, peak: maxOf(rss), end: rss.at(-1) ?? 0, phases: { baseline: range('baseline'), pileUp: range('pileUp'), drain: range('drain') }, samples },
      redisBytesPerQueuedDelivery,
      healthyLatency: { baseline: latency(byPhase.baseline), pileUp: latency(byPhase.pileUp), drain: latency(byPhase.drain) },
      probesMissing,
      probesRefused: probes.refused(),
      enqueueRetries,
    };
  } finally {
    clearInterval(sampler);
    // The trickle ends before the store it writes through closes.
    await probes?.stop();
    await store?.close();
    await relay?.kill('SIGKILL');
    await Promise.all([backlogged.close(), healthy.close()]);
    // The run's keys (its own prefix) go, so later sections start with an empty Redis.
    await deleteKeys(inspector, `*${prefix}*`).catch(() => {});
    inspector.disconnect();
    rmSync(directory, { recursive: true, force: true });
  }
}

async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  for await (const keys of redis.scanStream({ match: pattern, count: 1_000 }) as AsyncIterable<string[]>) {
    if (keys.length > 0) await redis.unlink(...keys);
  }
}

const phaseRange = (result: BacklogResult, phase: Phase) => `${result.rssMb.phases[phase].min}-${result.rssMb.phases[phase].max}`;

/** The lines `npm run bench` prints. */
export function formatBacklog(result: BacklogResult): string[] {
  const row = (name: string, figures: LatencyFigures) =>
    `  ${name.padEnd(9)} p50 ${String(figures.p50Ms).padStart(5)} ms   p99 ${String(figures.p99Ms).padStart(5)} ms   max ${String(figures.maxMs).padStart(5)} ms   (${figures.count} callbacks)`;
  return [
    `backlog: ${result.jobs} deliveries queued for a down target in ${result.pileUpSeconds.toFixed(1)} s (${result.enqueuedPerSecond}/s)`,
    `drain:   ${result.drained ? 'all' : 'NOT ALL'} delivered ${result.drainSeconds.toFixed(1)} s after the target returned: ${result.drainedPerSecond} deliveries/s (${result.duplicateDeliveries} duplicates)`,
    `relay RSS: start ${result.rssMb.start} MB, peak ${result.rssMb.peak} MB, end ${result.rssMb.end} MB; ` +
      `by phase (min-max): baseline ${phaseRange(result, 'baseline')}, pile-up ${phaseRange(result, 'pileUp')}, drain ${phaseRange(result, 'drain')} MB`,
    `Redis: ${result.redisBytesPerQueuedDelivery} bytes per queued delivery (job, its markers, AOF always)`,
    'healthy target latency (stored -> received):',
    row('baseline', result.healthyLatency.baseline),
    row('pile-up', result.healthyLatency.pileUp),
    row('drain', result.healthyLatency.drain),
    ...(result.probesMissing > 0 ? [`WARNING: ${result.probesMissing} healthy-target callbacks never arrived`] : []),
    ...(result.probesRefused + result.enqueueRetries > 0 ? [`Redis busy: the store refused ${result.probesRefused} healthy-target callbacks and ${result.enqueueRetries} backlog writes (written again)`] : []),
  ];
}

/** Section "backlog" of `npm run bench`: the full 100,000 (BENCH_BACKLOG_JOBS overrides). */
export async function backlog(context: BenchContext): Promise<BacklogResult> {
  const result = await runBacklog({
    redisUrl: context.redis.url,
    jobs: Number(process.env.BENCH_BACKLOG_JOBS ?? 100_000),
    ...(process.env.BENCH_BACKLOG_DRAIN_SECONDS ? { drainTimeoutSeconds: Number(process.env.BENCH_BACKLOG_DRAIN_SECONDS) } : {}),
    log: (line) => console.log(line),
  });
  for (const line of formatBacklog(result)) console.log(line);
  if (process.env.BACKLOG_REPORT_FILE) {
    const { samples: _samples, ...rss } = result.rssMb;
    writeFileSync(process.env.BACKLOG_REPORT_FILE, `${JSON.stringify({ measuredAt: new Date().toISOString(), ...result, rssMb: rss }, null, 2)}\n`);
  }
  return result;
}

export const backlogSection: BenchSection = {
  name: 'backlog',
  async run(context) {
    await backlog(context);
  },
};
