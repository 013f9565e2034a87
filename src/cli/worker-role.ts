/**
 * The worker role: the router (intake log -> each target's queue), one delivery worker per
 * configured target, and the unrouted queue's archiver. `zego-relay start --role worker|all` and
 * the bare worker process (workers/main.ts) start it; both stop it through lifecycle.ts.
 */
import type { RelayConfig } from '../config/load.js';
import { startUnroutedArchiver } from '../deliver/unrouted.js';
import { startDeliveryWorker } from '../deliver/worker.js';
import type { Logger } from '../lib/logger.js';
import { startRouter } from '../route/router.js';

export interface WorkersHandle {
  /**
   * Graceful: stop taking new deliveries, wait up to `delivery.shutdownTimeout` for those in
   * flight, then abort the rest (they go back to their queue and are delivered again later).
   */
  close(): Promise<void>;
}

/** Starts a delivery worker per target and resolves once each has connected to Redis. */
export async function startWorkers(config: RelayConfig, options: { logger: Logger }): Promise<WorkersHandle> {
  const { logger } = options;
  const workers = config.targets.map((target) => startDeliveryWorker(target, config, logger));
  const unrouted = startUnroutedArchiver(config, logger);
  const router = startRouter(config, { logger });
  await Promise.all([...workers.map((worker) => worker.ready()), unrouted.ready(), router.ready()]);
  logger.info({ targets: workers.map((worker) => worker.target.name) }, 'delivery workers started');
  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= (async () => {
        // The router first: what it has in hand is queued and acknowledged before the workers stop.
        await router.close();
        await Promise.all([...workers.map((worker) => worker.close(config.delivery.shutdownTimeout)), unrouted.close()]);
        logger.info('delivery workers stopped');
      })();
      return closing;
    },
  };
}
