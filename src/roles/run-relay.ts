/**
 * Assembling a relay process: the role's parts started in order (a private Redis in development,
 * the admin listener, the receiver, the worker role) under one lifecycle, stopped in reverse
 * order on SIGTERM/SIGINT. Shutdown order: stop taking callbacks, let deliveries in flight finish
 * (bounded by delivery.shutdownTimeout), close the admin listener, stop a private Redis last.
 * This folder is the one place of src/ that imports workers/ (the worker role).
 */
import { startAdmin } from '../admin/listener.js';
import { runAdminCredentials } from '../admin/credentials.js';
import type { Environment } from '../config/env-substitution.js';
import type { RelayConfig } from '../config/load.js';
import { ensureRedis, RedisServerMissingError } from '../dev/private-redis.js';
import type { Logger } from '../lib/logger.js';
import { maskUrlCredentials } from '../lib/redact.js';
import { startReceiver, type ReceiverHandle } from '../receive/server.js';
import { startWorkers } from '../../workers/role.js';
import { configWarnings } from './config-warnings.js';
import { runUntilStopped, type Lifecycle } from '../process/lifecycle.js';
import { startBanner, type Role } from './start-banner.js';

/** Where a relay process writes and what environment it sees (the CLI's, or a test's). */
export interface RelayIo {
  readonly stderr: NodeJS.WritableStream;
  readonly env: Environment;
  readonly logger: (mode: RelayConfig['mode']) => Logger;
}

const say = (stream: NodeJS.WritableStream, text: string) => stream.write(`${text}\n`);

/** Runs the role's parts until a signal or a start-up failure stops them; resolves with the exit code. */
export function runRelay(role: Role, config: RelayConfig, io: RelayIo): Promise<number> {
  const logger = io.logger(config.mode).child({ role });
  return runUntilStopped({
    config,
    logger,
    start: (lifecycle) => startParts(role, config, io, logger, lifecycle),
    onStartFailure(error) {
      say(io.stderr, `zego-relay start: ${startFailure(error, config)}`);
      logger.error({ err: error instanceof Error ? error.message : String(error) }, 'zego-relay could not start');
    },
  });
}

async function startParts(role: Role, config: RelayConfig, io: RelayIo, logger: Logger, lifecycle: Lifecycle): Promise<void> {
  logger.info({ config: config.source, mode: config.mode, targets: config.targets.map((t) => t.name) }, 'zego-relay starting');
  for (const warning of configWarnings(config)) logger.warn({ warning }, 'configuration warning');

  const redis = await ensureRedis(config, { logger, env: io.env });
  await lifecycle.adopt('redis', redis.stop);
  const credentials = runAdminCredentials(config);
  // The admin listener's /readyz shows the receiver's spool, which starts after it.
  let receiver: ReceiverHandle | undefined;
  const admin = await startAdmin(config, { logger, credentials, spool: () => receiver?.spoolStatus() });
  await lifecycle.adopt('admin', admin.close);
  receiver = role === 'worker' || lifecycle.stopping ? undefined : await startReceiver(config, { logger });
  if (receiver) await lifecycle.adopt('receiver', receiver.close);
  const workers = role === 'receiver' || lifecycle.stopping ? undefined : await startWorkers(config, { logger });
  if (workers) await lifecycle.adopt('workers', workers.close);
  if (lifecycle.stopping) return;

  const privateRedis = redis.privateServer !== undefined;
  logger.info({ adminUrl: admin.url, receiverPort: receiver?.port, privateRedis }, 'zego-relay started');
  const banner = startBanner({ role, config, adminUrl: admin.url, credentials, receiverPort: receiver?.port, privateRedis, redisDir: redis.privateServer?.dir });
  say(io.stderr, banner.join('\n'));
}

/** A start-up failure in words an operator can act on. */
function startFailure(error: unknown, config: RelayConfig): string {
  if (error instanceof RedisServerMissingError) return error.message;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') {
    return `a port is already in use (server.port ${config.server.port} or admin.port ${config.admin.port}): stop the other process or change the port (PORT, server.port, admin.port). ${(error as Error).message}`;
  }
  if (code === 'EACCES') return `not allowed to listen on a port below 1024 as this user: use a higher port. ${(error as Error).message}`;
  return maskUrlCredentials(error instanceof Error ? error.message : String(error));
}
