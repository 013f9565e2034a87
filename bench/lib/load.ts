/**
 * Drives a server with autocannon: 50 connections, every request a fresh body from `nextBody`
 * (a new signed callback, so the relay really stores each one), a warm-up that is not measured.
 */
import autocannon from 'autocannon';

export interface LoadOptions {
  url: string;
  /** Builds the body of each request. */
  nextBody: () => string;
  durationSeconds: number;
  warmupSeconds: number;
  /** @defaultValue 50 */
  connections?: number;
}

export interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** Answers that were not 2xx, plus errors and timeouts: should be 0. */
  failures: number;
}

/** Warms up, then measures. */
export async function measureLoad(options: LoadOptions): Promise<LoadResult> {
  if (options.warmupSeconds > 0) await run(options, options.warmupSeconds);
  const result = await run(options, options.durationSeconds);
  return {
    requestsPerSecond: result.requests.total / options.durationSeconds,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
    failures: result.non2xx + result.errors + result.timeouts,
  };
}

function run(options: LoadOptions, seconds: number): Promise<autocannon.Result> {
  return autocannon({
    url: options.url,
    connections: options.connections ?? 50,
    duration: seconds,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        setupRequest: (request) => ({ ...request, body: options.nextBody() }),
      },
    ],
  });
}

/** A fixed-width table row. */
export function formatRow(label: string, result: LoadResult): string {
  return [
    label.padEnd(28),
    `${Math.round(result.requestsPerSecond).toString().padStart(7)} req/s`,
    `p50 ${result.p50Ms.toFixed(1).padStart(6)} ms`,
    `p99 ${result.p99Ms.toFixed(1).padStart(6)} ms`,
    `${result.requests} requests, ${result.failures} failed`,
  ].join('  ');
}
