/**
 * The receiver role as `zego-relay start --role receiver` runs it (info-level JSON logs), in a
 * child process of bench/ingest.ts. BENCH_REDIS_URL, BENCH_PREFIX, BENCH_APP_ID, BENCH_SECRET and
 * BENCH_TARGETS (how many targets match each callback, default 1) come from the parent;
 * bench/cluster.ts gives BENCH_REDIS_JSON and BENCH_SHARDS instead of BENCH_REDIS_URL. Traced when
 * the OTEL_* variables say so (bench/tracing.ts), as `zego-relay start` would be. BENCH_SPOOL_DIR
 * turns the outage spool on in that directory (bench/spool.ts); without it the spool is off.
 */
import { parseConfig } from '../../src/config/load.js';
import { readTracingSettings } from '../../src/config/tracing.js';
import { RELAY_VERSION } from '../../src/shared/version.js';
import { createLogger } from '../../src/lib/logger.js';
import { startReceiver } from '../../src/receive/server.js';
import { startTracing } from '../../src/trace/tracing.js';

const env = process.env;
const config = parseConfig(
  JSON.stringify({
    server: { host: '127.0.0.1', port: 0 },
    // BENCH_REDIS_JSON: a whole `redis:` section (a cluster, waitReplicas) instead of one URL.
    redis: env.BENCH_REDIS_JSON ? { ...JSON.parse(env.BENCH_REDIS_JSON), prefix: env.BENCH_PREFIX } : { url: env.BENCH_REDIS_URL, prefix: env.BENCH_PREFIX },
    ...(env.BENCH_SHARDS ? { intake: { shards: Number(env.BENCH_SHARDS) } } : {}),
    spool: env.BENCH_SPOOL_DIR ? { dir: env.BENCH_SPOOL_DIR } : false,
    zego: { apps: [{ appId: env.BENCH_APP_ID, callbackSecrets: [env.BENCH_SECRET] }] },
    targets: Array.from({ length: Number(env.BENCH_TARGETS ?? 1) }, (_unused, index) => ({
      name: `target-${index}`,
      url: 'http://127.0.0.1:9/unused',
      events: ['mix_*'],
    })),
  }),
  { env: {}, source: 'bench' },
);
const logger = createLogger('info');
const tracing = startTracing(readTracingSettings(env).settings, { logger, version: RELAY_VERSION });
const receiver = await startReceiver(config, { logger });
process.send?.({ port: receiver.port });
process.on('SIGTERM', () => {
  void receiver.close().then(() => tracing?.close()).then(() => process.exit(0));
});
