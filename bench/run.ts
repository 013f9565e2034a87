/**
 * `npm run bench`: starts a redis-server (AOF, appendfsync always, as in production), runs each
 * section in order, prints every table side by side and writes docs/BENCHMARKS.md from
 * bench/BENCHMARKS.template.md. About 5 minutes on 2 cores.
 *
 * Environment:
 * - BENCH_SECTIONS=ingest,rejected,spool,e2e,memory,backlog,cluster,ordering,tracing picks sections (default: all).
 * - BENCH_DURATION / BENCH_WARMUP: seconds of each ingest load run (default 10 / 2).
 * - BENCH_QUICK=1: a smoke run of about a minute (shorter load runs, smaller N everywhere).
 * - BENCH_WRITE=0 never writes docs/BENCHMARKS.md, BENCH_WRITE=1 always does; by default it is
 *   written only by a full run (every section, not quick), so a partial run cannot replace figures.
 * - Per section: E2E_CALLBACKS, BENCH_MEMORY_CALLBACKS, BENCH_BACKLOG_JOBS (and
 *   BENCH_BACKLOG_DRAIN_SECONDS, the drain's time limit, default 600), ORDERING_KEYS and
 *   ORDERING_PER_KEY; BENCH_PROFILE_DIR.
 *
 * Add a section: write a BenchSection that returns its tables, list it below and put its
 * `{{table:ID}}` in the template.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { startRedisServer } from '../src/dev/redis-process.js';
import { backlog } from './backlog.js';
import { clusterSection } from './cluster.js';
import { endToEndSection } from './e2e.js';
import { ingestSection } from './ingest.js';
import { backlogFigures } from './lib/backlog-figures.js';
import { redisVersion } from './lib/redis-memory.js';
import type { BenchContext, BenchSection } from './lib/section.js';
import { memorySection } from './memory.js';
import { orderingSection } from './ordering.js';
import { rejectedFloodSection } from './rejected-flood.js';
import { tracingSection } from './tracing.js';
import { spoolSection } from './spool.js';
import { machineFacts, renderReport, sectionBlock, summaryTable, type SectionFigures } from './report.js';

/** bench/backlog.ts prints its own lines; this turns its result into the report's table. */
const backlogSection: BenchSection = {
  name: 'backlog',
  async run(context) {
    if (context.quick) process.env.BENCH_BACKLOG_JOBS ??= '5000';
    return backlogFigures(await backlog(context));
  },
};

const SECTIONS: readonly BenchSection[] = [ingestSection, rejectedFloodSection, spoolSection, endToEndSection, memorySection, backlogSection, clusterSection, orderingSection, tracingSection];

/** The repository root, from the source tree (bench/) or the build (dist/bench/). */
const ROOT = ['..', '../..']
  .map((relative) => fileURLToPath(new URL(`${relative}/`, import.meta.url)))
  .find((path) => existsSync(`${path}package.json`) && existsSync(`${path}bench/BENCHMARKS.template.md`));
if (!ROOT) throw new Error('bench/BENCHMARKS.template.md not found next to bench/run.ts or two levels up');

function selectedSections(): BenchSection[] {
  const wanted = process.env.BENCH_SECTIONS?.split(',').map((name) => name.trim()).filter(Boolean);
  if (!wanted) return [...SECTIONS];
  const unknown = wanted.filter((name) => !SECTIONS.some((section) => section.name === name));
  if (unknown.length > 0) {
    throw new Error(`unknown BENCH_SECTIONS ${unknown.join(', ')} (known: ${SECTIONS.map((s) => s.name).join(', ')})`);
  }
  return SECTIONS.filter((section) => wanted.includes(section.name));
}

function shouldWrite(sections: BenchSection[], quick: boolean): boolean {
  if (process.env.BENCH_WRITE === '0') return false;
  if (process.env.BENCH_WRITE === '1') return true;
  return sections.length === SECTIONS.length && !quick;
}

function methodLines(context: BenchContext, sections: BenchSection[]): string[] {
  const env = process.env;
  return [
    `One \`npm run bench\` run${context.quick ? ' (BENCH_QUICK=1: a smoke run, small N)' : ''}, sections ${sections.map((s) => s.name).join(', ')} in that order, on one redis-server with \`appendonly yes\`, \`appendfsync always\` (as in production), data dir in ${tmpdir()}.`,
    `Every server under test is its own Node process; load generator, targets, Redis and relay share the machine's cores with whatever else the machine runs (see the load average).`,
    `Ingest: autocannon, 50 connections, ${context.warmupSeconds} s warm-up then ${context.durationSeconds} s measured per server; each request a new signed mix_stop callback; receiver role (info-level logs to /dev/null) vs a bare Koa + koa-bodyparser endpoint.`,
    `Outage spool: the ingest load (as above, receiver role, 1 target) with the spool on and off while Redis answers (on, off, off, on), then with nothing answering at the receiver's Redis URL (every callback fsynced into the spool, in ${tmpdir()}), then Redis started there and the time until the spool is empty (bench/spool.ts).`,
    `End to end and fan-out: ${env.E2E_CALLBACKS ?? (context.quick ? 1_000 : 5_000)} callbacks POSTed by 50 keep-alive senders to the relay (receiver and workers in one process, info-level logs), timed from the first POST to the last delivery at the target (a separate Node process answering 204); the naive relay (bench/naive-relay.ts) with the same senders and target. Relay RSS from /proc/PID/status every 200 ms. Isolation: the same one-target run, back to back, alone and with a second target (every event, timeout 10 s) that answers every request after 5 s; the healthy target's deliveries timed.`,
    `Memory: ${env.BENCH_MEMORY_CALLBACKS ?? (context.quick ? 2_000 : 10_000)} callbacks stored through the receiver's store code with no worker running (64 in flight, after a 200-callback warm-up); INFO used_memory after minus before, divided by the delivery jobs queued. Naive: \`queue.add\` of the parsed body, as its receiver does. Per item (bench/memory-items.ts): the same N each for an intake entry (no router running), markers and a queued delivery (markers deleted one kind at a time), dead letters (one refused attempt, empty schedule) and unrouted callbacks (archived), each in its own prefix, automatic AOF rewrites off while measured.`,
    `Backlog: ${env.BENCH_BACKLOG_JOBS ?? 100_000} deliveries for a target that refuses connections (retried on 1, 2, 4, 8, then 10 s), queued through the store 64 at a time, while a healthy target gets 20 callbacks/s; then the target returns and the backlog drains (bench/backlog.ts).`,
    `Ordering: ${env.ORDERING_KEYS ?? (context.quick ? 200 : 1_000)} keys x ${env.ORDERING_PER_KEY ?? 5} signed mix_stop callbacks (task_id = the key) POSTed by 50 keep-alive senders to the relay (receiver and workers in one process), timed from the first POST to the last delivery at the target; the same target without ordering, with ordering (callbacks round by round, then each key's back to back), and without ordering beside an idle ordered target (bench/ordering.ts).`,
    `Redis Cluster: the ingest load (as above, receiver role, 1 target) against clusters started for the section from redis-server on this machine, AOF always on every node, 6 intake shards: 1 master, 3 masters, and 3 masters + 3 replicas with redis.waitReplicas 0 and 1 (bench/cluster.ts).`,
    `Tracing: the ingest load (receiver role, 1 target) and the end-to-end run (1 target, ${env.E2E_CALLBACKS ?? (context.quick ? 1_000 : 5_000)} callbacks), each with tracing off and on in the order off, on, on, off; on = OTEL_EXPORTER_OTLP_ENDPOINT naming a local sink process that takes OTLP/HTTP protobuf and discards it, every other OTEL_* setting the SDK's default (every callback sampled) (bench/tracing.ts). Every other section runs with tracing off.`,
  ];
}

// Tracing is off unless a section turns it on for its own runs (bench/tracing.ts): the figures of
// every other section must not depend on OTEL_* variables in the shell that started the run.
for (const name of Object.keys(process.env)) if (name.startsWith('OTEL_')) delete process.env[name];

const quick = process.env.BENCH_QUICK === '1';
const sections = selectedSections();
const loadStart = loadavg();
const redis = await startRedisServer({ appendfsync: 'always' });
const figures: SectionFigures[] = [];
let version = 'unknown';
const context: BenchContext = {
  redis,
  durationSeconds: Number(process.env.BENCH_DURATION ?? (quick ? 3 : 10)),
  warmupSeconds: Number(process.env.BENCH_WARMUP ?? (quick ? 1 : 2)),
  quick,
};
try {
  const inspector = new Redis(redis.url);
  version = await redisVersion(inspector).finally(() => inspector.disconnect());
  for (const section of sections) {
    console.log(`\n== ${section.name} ==`);
    figures.push(...((await section.run(context)) ?? []));
  }
} finally {
  // SIGTERM first: Redis then ends its own AOF-rewrite child (the backlog's 100,000 jobs trigger
  // one), which a SIGKILL would leave writing into the data dir while it is being removed.
  await redis.shutdown().catch(() => {});
  await redis.stop().catch((error: Error) => console.error(`warning: Redis's data dir ${redis.dir} was not removed: ${error.message}`));
}

console.log('\n== summary ==\n');
console.log(summaryTable(figures));
for (const section of figures) console.log(`\n${section.title}\n\n${sectionBlock(section)}`);
const machine = machineFacts(version, loadStart);
console.log(`\nload average at start ${loadStart.map((n) => n.toFixed(2)).join(' ')}, at end ${machine.loadEnd.map((n) => n.toFixed(2)).join(' ')} (${machine.cores} cores)`);

if (shouldWrite(sections, quick)) {
  const template = readFileSync(`${ROOT}bench/BENCHMARKS.template.md`, 'utf8');
  writeFileSync(`${ROOT}docs/BENCHMARKS.md`, renderReport({ template, sections: figures, machine, method: methodLines(context, sections) }));
  console.log('wrote docs/BENCHMARKS.md');
} else {
  console.log('docs/BENCHMARKS.md not written (a partial or quick run; BENCH_WRITE=1 forces it)');
}
