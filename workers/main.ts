/**
 * The bare worker process: `node dist/workers/main.js [--config FILE]`. The worker role
 * (workers/role.ts) with no admin listener and no private Redis, started and stopped by the
 * same lifecycle as `zego-relay start --role worker`: SIGTERM/SIGINT close it gracefully (bounded
 * by delivery.shutdownTimeout) before it exits. The crash tests kill and signal this process.
 * src/ never imports this folder: it is an entry point, like bin/.
 */
import { runUntilStopped } from '../src/process/lifecycle.js';
import { startWorkers } from './role.js';
import { loadConfig, type RelayConfig } from '../src/config/load.js';
import { createLogger } from '../src/lib/logger.js';

function configFlag(argv: readonly string[]): string | undefined {
  const index = argv.indexOf('--config');
  return index >= 0 ? argv[index + 1] : undefined;
}

const logger = createLogger();
const fatal = (error: unknown) => logger.fatal({ err: error }, error instanceof Error ? error.message : String(error));

let config: RelayConfig;
try {
  config = loadConfig({ path: configFlag(process.argv.slice(2)) });
} catch (error) {
  fatal(error);
  process.exit(1);
}
const code = await runUntilStopped({
  config,
  logger,
  async start(lifecycle) {
    const workers = await startWorkers(config, { logger });
    await lifecycle.adopt('workers', workers.close);
  },
  onStartFailure: fatal,
});
process.exit(code);
