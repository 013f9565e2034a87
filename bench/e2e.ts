/**
 * End-to-end benchmark: signed ZEGO callbacks POSTed to a relay until every one has reached its
 * target(s), zego-relay (receiver + workers in one process) against the naive relay
 * (bench/naive-relay.ts), side by side in one run on one redis-server with `appendfsync always`.
 * The target is a separate process (bench/sink.ts). Reported: callbacks delivered per second and
 * zego-relay's ratio to the naive relay, for one target (goal >= 1.2) and for a fan-out to five
 * (goal >= 1.0); and isolation: a healthy target's deliveries per second with a target that answers
 * every request after 5 s beside it, against the same target alone (goal >= 0.8).
 *
 * `endToEndSection` is the section bench/run.ts runs (BENCH_SECTIONS=e2e; E2E_CALLBACKS sets N);
 * `node dist/bench/e2e.js [N]` runs it alone on a redis-server of its own.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startRedisServer, type RedisServer } from '../src/dev/redis-process.js';
import { zegoSignature } from '../src/receive/signature.js';
import { sampleRss, type RssFigures } from './lib/rss.js';
import { forkBenchChild, stopBenchChild } from './lib/child-server.js';
import type { BenchSection } from './lib/section.js';
import { formatNumber, megabytes, perSecond, ratioOf, type SectionFigures } from './report.js';

const APP_ID = '111111';
const SECRET = 'bench-callback-secret';

export interface EndToEndOptions {
  /** Callbacks per run. @defaultValue 5000 */
  callbacks?: number;
  /** Concurrent senders (ZEGO's side). @defaultValue 50 */
  senders?: number;
  /** Target counts to measure. @defaultValue [1, 5] */
  fanOuts?: number[];
  /** zego-relay's LOG_LEVEL (per-attempt lines are info). @defaultValue info */
  logLevel?: string;
  log?: (line: string) => void;
  /** A redis-server with `appendfsync always` to use (each run gets its own key prefix); else one is started. */
  redis?: RedisServer;
  /** The relays to run for each target count, in this order. @defaultValue naive, then zego-relay */
  relays?: readonly RunFigures['relay'][];
  /** More environment for the zego-relay process (bench/tracing.ts: the OTEL_* variables). */
  relayEnv?: Record<string, string>;
  /** Also measure a healthy target alone and beside one answering after 5 s. @defaultValue false */
  isolation?: boolean;
  /** How many alone/beside pairs the isolation figure is the median of. @defaultValue 3 */
  isolationPairs?: number;
}

/** How long the slow target of the isolation runs takes to answer every request. */
export const SLOW_TARGET_MS = 5_000;

export interface RunFigures {
  relay: 'zego-relay' | 'naive';
  targets: number;
  /** Isolation runs: a target answering after 5 s was configured beside the measured one. */
  besideSlow?: boolean;
  callbacks: number;
  /** From the first POST to the last delivery arriving at the target. */
  seconds: number;
  /** Callbacks fully delivered (to every target) per second. */
  perSecond: number;
  /** From the first POST to the relay's last answer: how fast it takes callbacks in. */
  acceptSeconds: number;
  /** POSTs the relay did not answer 2xx. */
  rejected: number;
  /** The relay process's RSS: once ready (before the first POST), highest, after the last delivery. */
  rss: RssFigures;
}

export interface EndToEndResult {
  title: string;
  runs: RunFigures[];
  /** zego-relay callbacks/s divided by the naive relay's, per target count. */
  ratios: { targets: number; ratio: number }[];
  /** The healthy target beside the slow one against alone, when measured. */
  /** The median pair; `pairRatios`, every pair's ratio in the order measured. */
  isolation?: { alone: RunFigures; beside: RunFigures; ratio: number; pairRatios?: readonly number[] };
}

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

/** The pair whose ratio is the median (the lower middle one of an even count). */
export function medianPair<T extends { ratio: number }>(pairs: readonly T[]): T {
  if (pairs.length === 0) throw new Error('no pairs to take the median of');
  const sorted = [...pairs].sort((a, b) => a.ratio - b.ratio);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** Runs the benchmark and returns its figures (also logged line by line). */
export async function endToEnd(options: EndToEndOptions = {}): Promise<EndToEndResult> {
  const callbacks = options.callbacks ?? 5_000;
  const senders = options.senders ?? 50;
  const log = options.log ?? ((line: string) => console.log(line));
  const redis = options.redis ?? (await startRedisServer({ appendfsync: 'always' }));
  const sink = await forkChild(here('./sink.js'), [], { SINK_SLOW_MS: String(SLOW_TARGET_MS) });
  const sinkPort = ((await sink.firstMessage) as { port: number }).port;
  const directory = mkdtempSync(join(tmpdir(), 'zego-relay-bench-'));
  const runs: RunFigures[] = [];
  /** One run: `callbacks` POSTed, timed until the sink counted `callbacks * targets` (slow targets are not counted). */
  const measure = async (relay: RunFigures['relay'], targets: number, besideSlow: boolean): Promise<RunFigures> => {
    const urls = Array.from({ length: targets }, (_unused, index) => `http://127.0.0.1:${sinkPort}/t${index}`);
    const slowUrls = besideSlow ? [`http://127.0.0.1:${sinkPort}/slow`] : [];
    const prefix = `e2e-${relay}-${targets}-${randomUUID()}`;
    sink.child.send('reset');
    const port = await freePort();
    const child =
      relay === 'naive'
        ? await forkChild(here('./naive-relay.js'), [], {
            NAIVE_PORT: String(port), NAIVE_REDIS_URL: redis.url, NAIVE_TARGETS: urls.join(','), NAIVE_PREFIX: prefix,
          })
        : await forkChild(here('./relay-process.js'), [writeRelayConfig(directory, redis.url, prefix, port, urls, slowUrls)], {
            LOG_LEVEL: options.logLevel ?? 'info',
            ...options.relayEnv,
          });
    await child.firstMessage;
    const rssSampler = sampleRss(child.child.pid!);
    try {
      const bodies = Array.from({ length: callbacks }, () => signedCallback());
      const started = performance.now();
      const rejected = await send(port, bodies, senders);
      const acceptSeconds = (performance.now() - started) / 1000;
      await waitForCount(sink.child, callbacks * targets, 180_000);
      const seconds = (performance.now() - started) / 1000;
      const rss = rssSampler.stop();
      const figures: RunFigures = { relay, targets, ...(besideSlow ? { besideSlow } : {}), callbacks, seconds, perSecond: callbacks / seconds, acceptSeconds, rejected, rss };
      const label = besideSlow ? `targets ${targets} beside one answering after ${SLOW_TARGET_MS / 1000} s` : `targets ${targets}`;
      log(`e2e ${relay.padEnd(10)} ${label}: ${callbacks} callbacks in ${seconds.toFixed(2)} s = ${figures.perSecond.toFixed(0)}/s (all answered after ${acceptSeconds.toFixed(2)} s, rejected ${rejected})`);
      return figures;
    } finally {
      rssSampler.stop();
      await stopChild(child.child);
    }
  };
  let isolation: EndToEndResult['isolation'];
  try {
    for (const targets of options.fanOuts ?? [1, 5]) {
      for (const relay of options.relays ?? (['naive', 'zego-relay'] as const)) runs.push(await measure(relay, targets, false));
    }
    if (options.isolation) {
      // Back to back, the same healthy target alone and beside the slow one, in several pairs: one
      // pair swings by 20% on a 2-core machine, so the figure is the pair with the median ratio.
      const pairs: Array<NonNullable<EndToEndResult['isolation']>> = [];
      for (let pair = 0; pair < (options.isolationPairs ?? 3); pair += 1) {
        const alone = await measure('zego-relay', 1, false);
        const beside = await measure('zego-relay', 1, true);
        pairs.push({ alone, beside, ratio: ratioOf(beside.perSecond, alone.perSecond) });
      }
      isolation = { ...medianPair(pairs), pairRatios: pairs.map((pair) => pair.ratio) };
      log(`e2e isolation: the healthy target beside the slow one / alone, pairs ${pairs.map((pair) => pair.ratio.toFixed(2)).join(', ')}; median ${isolation.ratio.toFixed(2)} (goal >= ${ISOLATION_GOAL.toFixed(1)}) ${isolation.ratio >= ISOLATION_GOAL ? 'OK' : 'BELOW GOAL'}`);
    }
  } finally {
    await stopChild(sink.child);
    if (!options.redis) await redis.stop();
    rmSync(directory, { recursive: true, force: true });
  }
  const ratios = [...new Set(runs.map((run) => run.targets))].flatMap((targets) => {
    const ours = runs.find((run) => run.targets === targets && run.relay === 'zego-relay');
    const naive = runs.find((run) => run.targets === targets && run.relay === 'naive');
    // A run of one relay alone (bench/tracing.ts) has nothing to compare with here.
    return ours && naive ? [{ targets, ratio: ratioOf(ours.perSecond, naive.perSecond) }] : [];
  });
  for (const { targets, ratio } of ratios) {
    const goal = endToEndGoal(targets);
    log(`e2e ratio zego-relay / naive, targets ${targets}: ${ratio.toFixed(2)} (goal >= ${goal.toFixed(1)}) ${ratio >= goal ? 'OK' : 'BELOW GOAL'}`);
  }
  return { title: 'End to end: callbacks delivered per second (Redis appendfsync always)', runs, ratios, ...(isolation ? { isolation } : {}) };
}

/** The `e2e` section of `npm run bench`. */
export const endToEndSection: BenchSection = {
  name: 'e2e',
  async run(context) {
    const callbacks = Number(process.env.E2E_CALLBACKS ?? (context.quick ? 1_000 : 5_000));
    return endToEndFigures(await endToEnd({ redis: context.redis, callbacks, isolation: true }));
  },
};

/** The goal for zego-relay / naive, callbacks delivered per second: 1.2 with one target, 1.0 with a fan-out. */
export function endToEndGoal(targets: number): number {
  return targets === 1 ? 1.2 : 1.0;
}

/** The goal for a healthy target's deliveries per second beside a slow target, against alone. */
export const ISOLATION_GOAL = 0.8;

/** The report's tables: one per target count (delivered/s, ratio), and the relays' RSS. */
export function endToEndFigures(result: EndToEndResult): SectionFigures[] {
  const find = (relay: RunFigures['relay'], targets: number) => result.runs.find((run) => run.relay === relay && run.targets === targets)!;
  const throughput = result.ratios.map(({ targets, ratio }): SectionFigures => {
    const ours = find('zego-relay', targets);
    const naive = find('naive', targets);
    const rejected = ours.rejected + naive.rejected;
    return {
      id: targets === 1 ? 'e2e' : `fanout-${targets}`,
      title: targets === 1 ? 'End to end, one target' : `Fan-out, ${targets} targets`,
      baselineName: 'naive relay',
      rows: [
        { measure: 'callbacks delivered/s (to every target)', value: perSecond(ours.perSecond), baseline: perSecond(naive.perSecond), ratio, goal: endToEndGoal(targets) },
        { measure: `seconds for ${formatNumber(ours.callbacks)} callbacks`, value: `${ours.seconds.toFixed(2)} s`, baseline: `${naive.seconds.toFixed(2)} s` },
        { measure: 'every POST answered after', value: `${ours.acceptSeconds.toFixed(2)} s`, baseline: `${naive.acceptSeconds.toFixed(2)} s` },
        { measure: 'POSTs not answered 2xx', value: String(ours.rejected), baseline: String(naive.rejected) },
      ],
      ...(rejected > 0 ? { notes: [`${rejected} POSTs were not answered 2xx.`] } : {}),
    };
  });
  const { isolation } = result;
  const isolationTable: SectionFigures[] = isolation
    ? [{
        id: 'isolation-slow',
        title: `Isolation: a healthy target beside one answering after ${SLOW_TARGET_MS / 1000} s`,
        baselineName: 'the healthy target alone',
        rows: [
          { measure: 'healthy target: callbacks delivered/s', value: perSecond(isolation.beside.perSecond), baseline: perSecond(isolation.alone.perSecond), ratio: isolation.ratio, goal: ISOLATION_GOAL },
          { measure: `seconds for ${formatNumber(isolation.beside.callbacks)} callbacks`, value: `${isolation.beside.seconds.toFixed(2)} s`, baseline: `${isolation.alone.seconds.toFixed(2)} s` },
          { measure: 'every POST answered after', value: `${isolation.beside.acceptSeconds.toFixed(2)} s`, baseline: `${isolation.alone.acceptSeconds.toFixed(2)} s` },
          ...(isolation.pairRatios ? [{ measure: 'ratio of each alone/beside pair, in order (the figure above is the median pair)', value: isolation.pairRatios.map((ratio) => `${ratio.toFixed(2)}x`).join(', ') }] : []),
        ],
      }]
    : [];
  const rssRows = result.runs
    .filter((run) => run.relay === 'zego-relay')
    .map((ours) => {
      const naive = find('naive', ours.targets);
      const span = (rss: RssFigures) => `${megabytes(rss.startBytes)} / ${megabytes(rss.peakBytes)} / ${megabytes(rss.endBytes)}`;
      return { measure: `RSS start / peak / end, ${ours.targets} target${ours.targets > 1 ? 's' : ''}`, value: span(ours.rss), baseline: span(naive.rss) };
    });
  return [...throughput, ...isolationTable, { id: 'relay-rss', title: 'Relay RSS during the end-to-end runs', baselineName: 'naive relay', rows: rssRows }];
}

/** zego-relay's config: a target per URL (every event), and a slow one (timeout past its answer) per `slowUrls`. */
function writeRelayConfig(directory: string, redisUrl: string, prefix: string, port: number, urls: string[], slowUrls: string[] = []): string {
  const file = join(directory, `relay-${randomUUID()}.yaml`);
  const config = {
    mode: 'production',
    server: { host: '127.0.0.1', port },
    redis: { url: redisUrl, prefix },
    // The outage spool as in production, in this run's directory rather than the working one.
    spool: { dir: join(directory, `spool-${randomUUID()}`) },
    zego: { apps: [{ appId: APP_ID, callbackSecrets: [SECRET] }] },
    targets: [
      ...urls.map((url, index) => ({ name: `t${index}`, url, events: ['*'] })),
      ...slowUrls.map((url, index) => ({ name: `slow${index}`, url, events: ['*'], timeout: SLOW_TARGET_MS * 2 })),
    ],
  };
  writeFileSync(file, JSON.stringify(config));
  return file;
}

/** A mix_stop callback signed the way ZEGO signs it, unique by task id and nonce. */
function signedCallback(): string {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = String(Math.floor(Math.random() * 1e15));
  return JSON.stringify({
    appid: APP_ID, channel_id: '2222', event: 'mix_stop', mix_stream_alias: 'aaa',
    mix_url: 'rtmp://rtmp.wsdemo.zego.im/zegodemo/aaa', publish_id: 'abc', seq: '1234',
    task_id: `${APP_ID}:${randomUUID()}`, timestamp, nonce, signature: zegoSignature(SECRET, timestamp, nonce),
  });
}

/** POSTs every body with `senders` in parallel over keep-alive; returns how many got no 2xx. */
export async function send(port: number, bodies: string[], senders: number): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: senders });
  let next = 0;
  let rejected = 0;
  const post = (body: string) =>
    new Promise<number>((resolve) => {
      const outgoing = request(
        { host: '127.0.0.1', port, path: '/zego/callback', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode ?? 0));
        },
      );
      outgoing.on('error', () => resolve(0));
      outgoing.end(body);
    });
  await Promise.all(
    Array.from({ length: senders }, async () => {
      while (next < bodies.length) {
        const status = await post(bodies[next++]!);
        if (status < 200 || status >= 300) rejected += 1;
      }
    }),
  );
  agent.destroy();
  return rejected;
}

/** Waits until the sink (bench/sink.ts) counted `expected` deliveries. */
export async function waitForCount(sink: ChildProcess, expected: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const count = await new Promise<number>((resolve) => {
      sink.once('message', (message) => resolve((message as { count: number }).count));
      sink.send('count');
    });
    if (count >= expected) return;
    if (Date.now() > deadline) throw new Error(`only ${count} of ${expected} deliveries arrived within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Forks a benchmark process; `firstMessage` resolves with its first IPC message (ready, or its port). */
export async function forkChild(file: string, args: string[], env: Record<string, string>): Promise<{ child: ChildProcess; firstMessage: Promise<unknown> }> {
  const child = forkBenchChild(file, args, env);
  const firstMessage = new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code} before it was ready`)));
  });
  return { child, firstMessage };
}

/** The relays get longer than the default to finish their deliveries in flight. */
export const stopChild = (child: ChildProcess) => stopBenchChild(child, 10_000);

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const callbacks = process.argv[2] ? Number(process.argv[2]) : undefined;
  await endToEnd({ ...(callbacks ? { callbacks } : {}) });
}
