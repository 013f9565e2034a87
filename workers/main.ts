/**
 * A delivery-only process: `node dist/workers/main.js [--config FILE]`. Loads the config, starts a
 * worker per target, and on SIGTERM/SIGINT closes gracefully (bounded by delivery.shutdownTimeout)
 * before exiting. The crash tests kill and signal this process.
 */
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/lib/logger.js';
import { startWorkers } from './delivery.js';

function configFlag(argv: readonly string[]): string | undefined {
  const index = argv.indexOf('--config');
  return index >= 0 ? argv[index + 1] : undefined;
}

const logger = createLogger();
try {
  const config = loadConfig({ path: configFlag(process.argv.slice(2)) });
  const workers = await startWorkers(config, { logger });
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping delivery workers');
    workers.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'delivery workers did not stop cleanly');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} catch (error) {
  logger.fatal({ err: error }, error instanceof Error ? error.message : String(error));
  process.exit(1);
}
