/**
 * zego-relay for the benchmark: receiver and delivery workers in ONE process, as `--role all`
 * runs them, from the config file in argv[2]. Forked by bench/e2e.ts; sends 'ready' over IPC.
 * Traced when the OTEL_* variables say so (bench/tracing.ts).
 */
import { loadConfig } from '../src/config/load.js';
import { RELAY_VERSION } from '../src/shared/version.js';
import { createLogger } from '../src/lib/logger.js';
import { startReceiver } from '../src/receive/server.js';
import { startWorkers } from '../workers/role.js';
import { startTracing } from '../src/trace/tracing.js';

const config = loadConfig({ path: process.argv[2] });
const logger = createLogger();
const tracing = startTracing(config.tracing, { logger, version: RELAY_VERSION });
const receiver = await startReceiver(config, { logger });
const workers = await startWorkers(config, { logger });
process.send?.('ready');
process.on('SIGTERM', () => {
  void Promise.all([receiver.close(), workers.close()]).then(() => tracing?.close()).then(() => process.exit(0));
});
