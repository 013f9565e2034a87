/**
 * What ordered delivery per key costs, end to end: signed callbacks (1,000 keys x 5, task_id = the
 * key) POSTed to zego-relay (receiver and workers in one process, bench/relay-process.ts) until
 * every one has reached the target (bench/sink.ts, a separate process), on one redis-server with
 * `appendfsync always`. Each run is a fresh relay on its own key prefix:
 * - unordered: the target without `ordering` (the baseline, measured first and last, averaged);
 * - ordered: the same target with `ordering: { key: [task_id] }`, the callbacks sent round by round
 *   (every key's first, then every key's second, ...): goal at least 0.8x the baseline;
 * - ordered, bursts: each key's five callbacks back to back, so nearly every later one is held
 *   behind the one before it (the worst case; no goal);
 * - neighbour: the unordered target in a relay that also has an ordered target (matching no
 *   callback of the run): what a target without ordering pays for ordering elsewhere, goal at
 *   least 0.95x (none measurable). A relay without any ordered target runs exactly the code it ran
 *   before ordering existed (no gate is made), so the e2e section measures that path.
 *
 * `orderingSection` is the section bench/run.ts runs (BENCH_SECTIONS=ordering; ORDERING_KEYS,
 * ORDERING_PER_KEY set N).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, type RedisServer } from '../src/dev/redis-process.js';
import { zegoSignature } from '../src/receive/signature.js';
import { forkChild, send, stopChild, waitForCount } from './e2e.js';
import type { BenchSection } from './lib/section.js';
import { formatNumber, perSecond, ratioOf, type SectionFigures } from './report.js';

const APP_ID = '111111';
const SECRET = 'bench-callback-secret';
const SENDERS = 50;

type RunName = 'unordered' | 'ordered' | 'bursts' | 'neighbour';

export interface OrderingRun {
  readonly name: RunName;
  readonly callbacks: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly rejected: number;
}

/** Ratio goals: ordered against unordered, and an unordered target beside an ordered one against alone. */
export const ORDERING_GOALS = { ordered: 0.8, neighbour: 0.95 } as const;

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

/** Runs the relays one after another against one sink (the baseline twice); returns each run's figures. */
export async function orderingRuns(redis: RedisServer, keys: number, perKey: number, log: (line: string) => void = console.log): Promise<OrderingRun[]> {
  const sink = await forkChild(here('./sink.js'), [], {});
  const sinkPort = ((await sink.firstMessage) as { port: number }).port;
  const directory = mkdtempSync(join(tmpdir(), 'zego-relay-ordering-'));
  const runs: OrderingRun[] = [];
  try {
    // The baseline first and last (averaged), so a drift of the machine over the section does not favour either side.
    for (const name of ['unordered', 'ordered', 'bursts', 'neighbour', 'unordered'] as const) {
      sink.child.send('reset');
      const port = await freePort();
      const config = relayConfig(directory, redis.url, port, `http://127.0.0.1:${sinkPort}/t`, name);
      const relay = await forkChild(here('./relay-process.js'), [config], { LOG_LEVEL: 'info' });
      await relay.firstMessage;
      try {
        const bodies = callbacks(keys, perKey, name === 'bursts' ? 'bursts' : 'rounds');
        const started = performance.now();
        const rejected = await send(port, bodies, SENDERS);
        await waitForCount(sink.child, bodies.length - rejected, 300_000);
        const seconds = (performance.now() - started) / 1000;
        const run = { name, callbacks: bodies.length, seconds, perSecond: bodies.length / seconds, rejected };
        runs.push(run);
        log(`ordering ${name.padEnd(10)}: ${run.callbacks} callbacks in ${seconds.toFixed(2)} s = ${run.perSecond.toFixed(0)}/s (rejected ${rejected})`);
      } finally {
        await stopChild(relay.child);
      }
    }
  } finally {
    await stopChild(sink.child);
    rmSync(directory, { recursive: true, force: true });
  }
  return runs;
}

/** The `ordering` section of `npm run bench`. */
export const orderingSection: BenchSection = {
  name: 'ordering',
  async run(context) {
    const keys = Number(process.env.ORDERING_KEYS ?? (context.quick ? 200 : 1_000));
    const perKey = Number(process.env.ORDERING_PER_KEY ?? 5);
    return orderingFigures(await orderingRuns(context.redis, keys, perKey));
  },
};

/** The report's table: delivered/s of each run against the unordered baseline. */
export function orderingFigures(runs: readonly OrderingRun[]): SectionFigures[] {
  const run = (name: RunName) => runs.find((candidate) => candidate.name === name)!;
  const baselines = runs.filter((candidate) => candidate.name === 'unordered');
  const baseline = { callbacks: baselines[0]!.callbacks, perSecond: baselines.reduce((sum, each) => sum + each.perSecond, 0) / baselines.length };
  const row = (name: RunName, measure: string, goal?: number) => {
    const ratio = ratioOf(run(name).perSecond, baseline.perSecond);
    return { measure, value: perSecond(run(name).perSecond), baseline: perSecond(baseline.perSecond), ratio, ...(goal === undefined ? {} : { goal }) };
  };
  const rejected = runs.reduce((sum, each) => sum + each.rejected, 0);
  return [{
    id: 'ordering',
    title: `Ordered delivery: ${formatNumber(baseline.callbacks)} callbacks delivered per second`,
    baselineName: 'same target without ordering',
    rows: [
      row('ordered', 'ordered target, keys round by round', ORDERING_GOALS.ordered),
      row('bursts', "ordered target, each key's callbacks back to back"),
      row('neighbour', 'target without ordering, beside an ordered one', ORDERING_GOALS.neighbour),
    ],
    ...(rejected > 0 ? { notes: [`${rejected} POSTs were not answered 2xx.`] } : {}),
  }];
}

/** The relay's config file for a run: one target `t` at the sink, ordered or not, and the idle ordered neighbour. */
function relayConfig(directory: string, redisUrl: string, port: number, url: string, run: RunName): string {
  const ordered = run === 'ordered' || run === 'bursts';
  const targets = [
    { name: 't', url, events: ['*'], ...(ordered ? { ordering: { key: ['task_id'] } } : {}) },
    ...(run === 'neighbour' ? [{ name: 'rooms', url, events: ['room_close'], ordering: { key: ['room_id'] } }] : []),
  ];
  const file = join(directory, `relay-${run}.yaml`);
  writeFileSync(file, JSON.stringify({
    mode: 'production',
    server: { host: '127.0.0.1', port },
    redis: { url: redisUrl, prefix: `ordering-${run}-${randomUUID()}` },
    zego: { apps: [{ appId: APP_ID, callbackSecrets: [SECRET] }] },
    targets,
  }));
  return file;
}

/** `keys` x `perKey` signed mix_stop callbacks, round by round or each key's back to back. */
function callbacks(keys: number, perKey: number, order: 'rounds' | 'bursts'): string[] {
  const run = randomUUID().slice(0, 8);
  const pairs = order === 'rounds'
    ? Array.from({ length: perKey }, (_unused, seq) => Array.from({ length: keys }, (_again, key) => [key, seq + 1] as const)).flat()
    : Array.from({ length: keys }, (_unused, key) => Array.from({ length: perKey }, (_again, seq) => [key, seq + 1] as const)).flat();
  return pairs.map(([key, seq]) => {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const nonce = String(Math.floor(Math.random() * 1e15));
    return JSON.stringify({
      appid: APP_ID, channel_id: '2222', event: 'mix_stop', mix_stream_alias: 'aaa', publish_id: 'abc',
      mix_url: 'rtmp://rtmp.wsdemo.zego.im/zegodemo/aaa', seq: String(seq), task_id: `${APP_ID}:${run}-${key}`,
      timestamp, nonce, signature: zegoSignature(SECRET, timestamp, nonce),
    });
  });
}
