/**
 * The unrouted queue's worker. The receiver stores every genuine callback in the intake; the router
 * (workers/route/router.ts) queues one that matched no target in the unrouted queue and counts it
 * (zego_relay_callbacks_unrouted_total). This worker delivers nothing: it only marks the job
 * completed, so it stays visible in Bull Board (with its body) within retention.unroutedAge and
 * retention.unroutedCount (job-options.ts) and is then trimmed, instead of waiting in Redis forever.
 */
import { Worker } from 'bullmq';
import type { RelayConfig } from '../../src/config/load.js';
import type { Logger } from '../../src/lib/logger.js';
import { queueOptions } from '../../src/redis/queues.js';
import { UNROUTED_QUEUE, type DeliveryJobData } from '../../src/shared/names.js';
import { createWorkerConnection } from '../../src/redis/connection.js';
import { workerOutageLog } from '../../src/redis/outage.js';

export interface UnroutedArchiver {
  ready(): Promise<void>;
  close(): Promise<void>;
}

export function startUnroutedArchiver(config: RelayConfig, logger: Logger): UnroutedArchiver {
  const outage = workerOutageLog(logger);
  const connection = createWorkerConnection(config.redis, { name: 'worker:unrouted', outage });
  const log = logger.child({ queue: UNROUTED_QUEUE });
  const worker = new Worker<DeliveryJobData>(
    UNROUTED_QUEUE,
    async (job) => {
      log.info({ callbackId: job.data.callbackId, event: job.data.event, appId: job.data.appId }, 'callback matched no target; kept as unrouted');
      return { unrouted: true };
    },
    { ...queueOptions(config, UNROUTED_QUEUE, connection), concurrency: 1 },
  );
  // Redis outages are expected (reported once by the outage log); without a listener an 'error'
  // event would end the process.
  worker.on('error', (error) => {
    if (!outage.absorbs(error)) log.error({ err: error }, 'unrouted worker error');
  });
  return {
    ready: () => worker.waitUntilReady().then(() => undefined),
    async close() {
      await worker.close();
      connection.disconnect();
    },
  };
}
