/**
 * Section "rejected": keeping samples of refused requests costs valid callbacks nothing beyond
 * noise, and the rejected list stays capped. The receiver role takes valid signed callbacks
 * (autocannon, 50 connections) three times: alone; while 5,000 garbage requests arrive from 20
 * more connections on another path (404, not sampled); and while the same 5,000 arrive on the
 * callback path (400, each sampled into the rejected list). Any flood takes CPU from the valid
 * callbacks; the sampled one must take no more than the unsampled one, and leave at most 1,000
 * samples.
 */
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { Redis } from 'ioredis';
import { callbackFields, signedBody } from '../src/cli/simulate-callbacks.js';
import { rejectedKey } from '../src/shared/names.js';
import { startChildServer } from './lib/child-server.js';
import { formatRow, measureLoad, type LoadResult } from './lib/load.js';
import type { BenchSection } from './lib/section.js';
import { formatNumber, milliseconds, perSecond, ratioOf, type SectionFigures } from './report.js';

const APP_ID = '111111';
const SECRET = 'bench-secret';
const FLOOD = 5_000;
const FLOOD_CONNECTIONS = 20;
/** Valid callbacks/s during the sampled flood against during the unsampled one. */
export const FLOOD_RATIO_GOAL = 0.9;

/** Sends `count` garbage JSON bodies over `connections` keep-alive connections; resolves with the statuses seen. */
async function flood(port: number, path: string, count: number, connections: number): Promise<Map<number, number>> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const statuses = new Map<number, number>();
  let next = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const body = `{"marker":${next},"garbage":${'x'.repeat(200)}`;
      const outgoing = request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (response) => {
        statuses.set(response.statusCode ?? 0, (statuses.get(response.statusCode ?? 0) ?? 0) + 1);
        response.resume();
        response.on('end', resolve);
      });
      outgoing.on('error', () => {
        statuses.set(0, (statuses.get(0) ?? 0) + 1);
        resolve();
      });
      outgoing.end(body);
    });
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next < count) {
        next += 1;
        await one();
      }
    }),
  );
  agent.destroy();
  return statuses;
}

export const rejectedFloodSection: BenchSection = {
  name: 'rejected',
  async run(context) {
    const prefix = `bench-rejected-${randomUUID()}`;
    const server = await startChildServer(new URL('./lib/receiver-server.js', import.meta.url), {
      BENCH_REDIS_URL: context.redis.url,
      BENCH_PREFIX: prefix,
      BENCH_APP_ID: APP_ID,
      BENCH_SECRET: SECRET,
    });
    const inspector = new Redis(context.redis.url);
    try {
      const runId = randomUUID().slice(0, 8);
      let index = 0;
      const load = () =>
        measureLoad({
          url: `http://127.0.0.1:${server.port}/zego/callback`,
          nextBody: () => signedBody(callbackFields('mix_stop', APP_ID, runId, index++), SECRET),
          durationSeconds: context.durationSeconds,
          warmupSeconds: context.warmupSeconds,
        });
      const alone = await load();
      console.log(formatRow('valid callbacks alone', alone));
      const during = async (path: string) => {
        const flooding = Promise.resolve().then(async () => {
          // Starts once the warm-up is over, so the flood falls inside the measured window.
          await new Promise((resolve) => setTimeout(resolve, context.warmupSeconds * 1000));
          return flood(server.port, path, FLOOD, FLOOD_CONNECTIONS);
        });
        const result = await load();
        return { result, statuses: await flooding };
      };
      const unsampled = await during('/not-the-callback-path');
      console.log(formatRow(`valid, ${FLOOD} x 404 (not sampled)`, unsampled.result));
      const sampled = await during('/zego/callback');
      console.log(formatRow(`valid, ${FLOOD} x 400 (sampled)`, sampled.result));
      const samples = await inspector.llen(rejectedKey(prefix));
      console.log(`flood answers: ${JSON.stringify(Object.fromEntries(sampled.statuses))}; rejected list holds ${samples} samples (cap 1000)`);
      const ratio = ratioOf(sampled.result.requestsPerSecond, unsampled.result.requestsPerSecond);
      console.log(`ratio valid during sampled/unsampled flood: ${ratio.toFixed(2)} (goal >= ${FLOOD_RATIO_GOAL.toFixed(2)}) ${ratio >= FLOOD_RATIO_GOAL ? 'OK' : 'BELOW GOAL'}`);
      return [floodFigures(alone, unsampled.result, sampled.result, samples, sampled.statuses)];
    } finally {
      inspector.disconnect();
      await server.stop();
    }
  },
};

function floodFigures(alone: LoadResult, unsampled: LoadResult, sampled: LoadResult, samples: number, statuses: Map<number, number>): SectionFigures {
  return {
    id: 'rejected',
    title: 'Valid callbacks during a flood of bad requests',
    baselineName: 'unsampled flood',
    rows: [
      { measure: 'valid callbacks/s, sampled flood vs unsampled', value: perSecond(sampled.requestsPerSecond), baseline: perSecond(unsampled.requestsPerSecond), ratio: ratioOf(sampled.requestsPerSecond, unsampled.requestsPerSecond), goal: FLOOD_RATIO_GOAL },
      { measure: 'valid latency p99', value: milliseconds(sampled.p99Ms), baseline: milliseconds(unsampled.p99Ms) },
      { measure: 'valid callbacks/s with no flood', value: perSecond(alone.requestsPerSecond) },
      { measure: 'samples kept in the rejected list (cap 1,000)', value: formatNumber(samples) },
      { measure: 'bad requests answered 400', value: `${formatNumber(statuses.get(400) ?? 0)} of ${formatNumber(FLOOD)}` },
    ],
  };
}
