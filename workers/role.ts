/**
 * The worker role: the router (intake log -> each target's queue), one delivery worker per
 * configured target, and the unrouted queue's archiver. `zego-relay start --role worker|all` and
 * the bare worker process (workers/main.ts) start it; both stop it through lifecycle.ts.
 */
import type { RelayConfig } from '../src/config/load.js';
import { createTargetClient } from './deliver/attempt.js';
import { startUnroutedArchiver } from './route/unrouted.js';
import { startDeliveryWorker } from './deliver/worker.js';
import type { Logger } from '../src/lib/logger.js';
import { startRouter } from './route/router.js';

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
  // One HTTP client per target for its worker and the router's first attempts: `concurrency`
  // bounds the requests in flight to the target from this process, whoever makes them.
  const clients = new Map(config.targets.map((target) => [target.name, createTargetClient(target, config.delivery)]));
  const workers = config.targets.map((target) => startDeliveryWorker(target, config, logger, { client: clients.get(target.name)! }));
  const unrouted = startUnroutedArchiver(config, logger);
  const router = startRouter(config, { logger, clients });
  await Promise.all([...workers.map((worker) => worker.ready()), unrouted.ready(), router.ready()]);
  logger.info({ targets: workers.map((worker) => worker.target.name) }, 'delivery workers started');
  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= (async () => {
        // Together, each within delivery.shutdownTimeout: the router queues and acknowledges the
        // batch in hand and waits for its first attempts still running, the workers for theirs.
        await Promise.all([router.close(), ...workers.map((worker) => worker.close(config.delivery.shutdownTimeout)), unrouted.close()]);
        for (const client of clients.values()) client.close();
        logger.info('delivery workers stopped');
      })();
      return closing;
    },
  };
}
