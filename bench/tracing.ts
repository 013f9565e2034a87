/**
 * Section "tracing": what OpenTelemetry tracing costs, tracing on against tracing off in the same
 * run. On means the OTEL_* variables name a collector (bench/lib/otlp-sink.ts, its own process,
 * which takes every export and discards it) and everything else is the SDK's default: every
 * callback sampled, batches of 512 spans, protobuf over HTTP. Off means no OTEL_* variable, which
 * is also how every other section runs, so their ratios to their baselines are the "tracing off"
 * figures to compare with earlier reports.
 * - ingest: the receiver role (1 target), off, on, on, off, each figure the mean of its two runs;
 * - end to end: receiver and workers in one process, one target, off, on, on, off.
 * Tracing on has no goal: it is a figure of its own.
 */
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { endToEnd, type RunFigures } from './e2e.js';
import { meanOf, measureServer } from './ingest.js';
import { forkBenchChild, stopBenchChild } from './lib/child-server.js';
import { formatRow, type LoadResult } from './lib/load.js';
import type { BenchContext, BenchSection } from './lib/section.js';
import { formatNumber, megabytes, milliseconds, perSecond, ratioOf, type SectionFigures } from './report.js';

const APP_ID = '111111';
const SECRET = 'bench-secret';

/** Every variable that could turn tracing on, emptied: the child runs untraced whatever our environment says. */
const OFF: Record<string, string> = { OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '' };

const on = (sinkPort: number): Record<string, string> => ({
  ...OFF,
  OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${sinkPort}`,
  OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
});

interface SinkCounts {
  requests: number;
  bytes: number;
}

async function startSink(): Promise<{ child: ChildProcess; port: number; counts(): Promise<SinkCounts> }> {
  const child = forkBenchChild(fileURLToPath(new URL('./lib/otlp-sink.js', import.meta.url)));
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message) => resolve((message as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`the OTLP sink exited with ${code}`)));
  });
  const counts = () =>
    new Promise<SinkCounts>((resolve) => {
      child.once('message', (message) => resolve(message as SinkCounts));
      child.send('count');
    });
  return { child, port, counts };
}

/** The receiver role with 1 target, `env` on top (tracing on or off). */
function ingest(env: Record<string, string>, context: BenchContext): Promise<LoadResult> {
  return measureServer(
    './lib/receiver-server.js',
    { ...env, BENCH_REDIS_URL: context.redis.url, BENCH_PREFIX: `bench-tracing-${randomUUID()}`, BENCH_APP_ID: APP_ID, BENCH_SECRET: SECRET, BENCH_TARGETS: '1' },
    '/zego/callback',
    context,
  );
}

async function endToEndRun(env: Record<string, string>, context: BenchContext, callbacks: number): Promise<RunFigures> {
  const result = await endToEnd({ redis: context.redis, callbacks, fanOuts: [1], relays: ['zego-relay'], relayEnv: env });
  return result.runs[0]!;
}

/** The mean of two end-to-end runs (delivered/s over the two runs' callbacks and seconds). */
function meanRun(first: RunFigures, second: RunFigures): RunFigures {
  const callbacks = first.callbacks + second.callbacks;
  const seconds = first.seconds + second.seconds;
  const rss = { ...first.rss, peakBytes: Math.max(first.rss.peakBytes, second.rss.peakBytes) };
  return { ...first, callbacks, seconds, perSecond: callbacks / seconds, acceptSeconds: (first.acceptSeconds + second.acceptSeconds) / 2, rejected: first.rejected + second.rejected, rss };
}

export const tracingSection: BenchSection = {
  name: 'tracing',
  async run(context) {
    const callbacks = Number(process.env.E2E_CALLBACKS ?? (context.quick ? 1_000 : 5_000));
    const sink = await startSink();
    try {
      const traced = on(sink.port);
      // What the sink took during the runs of each kind: the off runs must send it nothing.
      const exported = { off: { requests: 0, bytes: 0 }, on: { requests: 0, bytes: 0 } };
      const counted = async <T>(kind: 'off' | 'on', work: Promise<T>): Promise<T> => {
        const before = await sink.counts();
        const result = await work;
        const after = await sink.counts();
        exported[kind].requests += after.requests - before.requests;
        exported[kind].bytes += after.bytes - before.bytes;
        return result;
      };
      // A B B A: drift during the section weighs on both equally.
      const ingestOff1 = await counted('off', ingest(OFF, context));
      const ingestOn1 = await counted('on', ingest(traced, context));
      const ingestOn2 = await counted('on', ingest(traced, context));
      const ingestOff2 = await counted('off', ingest(OFF, context));
      const ingestOff = meanOf(ingestOff1, ingestOff2);
      const ingestOn = meanOf(ingestOn1, ingestOn2);
      console.log(formatRow('receiver, tracing off', ingestOff));
      console.log(formatRow('receiver, tracing on', ingestOn));
      const e2eOff1 = await counted('off', endToEndRun(OFF, context, callbacks));
      const e2eOn1 = await counted('on', endToEndRun(traced, context, callbacks));
      const e2eOn2 = await counted('on', endToEndRun(traced, context, callbacks));
      const e2eOff2 = await counted('off', endToEndRun(OFF, context, callbacks));
      const figures = tracingFigures({ ingestOff, ingestOn, e2eOff: meanRun(e2eOff1, e2eOff2), e2eOn: meanRun(e2eOn1, e2eOn2), exported });
      for (const row of figures.rows) console.log(`${row.measure}: ${row.value} vs ${row.baseline ?? '-'}${row.ratio !== undefined ? ` = ${row.ratio.toFixed(2)}` : ''}`);
      if (exported.on.requests === 0) throw new Error('the tracing-on runs exported nothing: tracing was not on');
      return [figures];
    } finally {
      await stopBenchChild(sink.child);
    }
  },
};

interface TracingRuns {
  ingestOff: LoadResult;
  ingestOn: LoadResult;
  e2eOff: RunFigures;
  e2eOn: RunFigures;
  exported: { off: SinkCounts; on: SinkCounts };
}

const exports = (counts: SinkCounts) => `${formatNumber(counts.requests)} (${megabytes(counts.bytes)})`;

/** The report's table: tracing on against tracing off, no goal. */
export function tracingFigures(runs: TracingRuns): SectionFigures {
  const { ingestOff, ingestOn, e2eOff, e2eOn, exported } = runs;
  const failures = ingestOff.failures + ingestOn.failures + e2eOff.rejected + e2eOn.rejected;
  return {
    id: 'tracing',
    title: 'Tracing on (default sampler, local OTLP sink) vs tracing off',
    baselineName: 'tracing off',
    rows: [
      { measure: 'ingest requests/s, 1 target (tracing on vs off)', value: perSecond(ingestOn.requestsPerSecond), baseline: perSecond(ingestOff.requestsPerSecond), ratio: ratioOf(ingestOn.requestsPerSecond, ingestOff.requestsPerSecond) },
      { measure: 'ingest latency p50 (on vs off)', value: milliseconds(ingestOn.p50Ms), baseline: milliseconds(ingestOff.p50Ms) },
      { measure: 'ingest latency p99 (on vs off)', value: milliseconds(ingestOn.p99Ms), baseline: milliseconds(ingestOff.p99Ms) },
      { measure: 'end to end, callbacks delivered/s, 1 target (on vs off)', value: perSecond(e2eOn.perSecond), baseline: perSecond(e2eOff.perSecond), ratio: ratioOf(e2eOn.perSecond, e2eOff.perSecond) },
      { measure: 'relay RSS peak, end to end (on vs off)', value: megabytes(e2eOn.rss.peakBytes), baseline: megabytes(e2eOff.rss.peakBytes) },
      { measure: 'OTLP exports the sink took (on runs vs off runs)', value: exports(exported.on), baseline: exports(exported.off) },
    ],
    ...(failures > 0 ? { notes: [`${failures} requests were not answered 2xx.`] } : {}),
  };
}
