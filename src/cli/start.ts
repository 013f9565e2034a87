/**
 * `zego-relay start --role all|receiver|worker`: runs the relay until SIGTERM/SIGINT.
 * all = receiver + delivery workers + admin; receiver = receiver + admin; worker = workers + admin
 * (metrics and health). Shutdown order: stop taking callbacks, let deliveries in flight finish
 * (bounded by delivery.shutdownTimeout), close the admin listener, stop a private Redis last.
 */
import { maskUrlCredentials } from '../lib/redact.js';
import type { RelayConfig } from '../config/load.js';
import { startAdmin } from '../ops/admin.js';
import { runAdminCredentials } from '../ops/admin-credentials.js';
import type { Logger } from '../lib/logger.js';
import { ensureRedis, RedisServerMissingError } from '../dev/private-redis.js';
import { startReceiver, type ReceiverHandle } from '../receive/server.js';
import { ExitCode, loadCommandConfig, parseOptions, say, UsageError, type Command, type CommandIo } from './command.js';
import { configWarnings } from './config-warnings.js';
import { runUntilStopped, type Lifecycle } from './lifecycle.js';
import { startBanner, type Role } from './start-banner.js';
import { startWorkers } from './worker-role.js';

export const ROLES: readonly Role[] = ['all', 'receiver', 'worker'];

const help = `Usage: zego-relay start [--role all|receiver|worker] [--config FILE]

Runs the relay until SIGTERM or SIGINT (Ctrl-C).
  --role all        receiver + delivery workers + admin listener in one process (default; npm start)
  --role receiver   the public callback listener + admin listener (scale for incoming traffic)
  --role worker     delivery workers + admin listener for metrics and health (scale for delivery)
  --config FILE     the YAML file (default: $RELAY_CONFIG, else config/relay.yaml)
  -h, --help        this text

Environment: RELAY_CONFIG, REDIS_URL (overrides redis.url; refused with redis.cluster or
redis.sentinel), PORT (overrides server.port), RELAY_MODE (production or development; overrides
mode), LOG_LEVEL (trace, debug, info, warn, error; default info), LOG_FORMAT (json or pretty),
OTEL_EXPORTER_OTLP_ENDPOINT and the other standard OTEL_* variables (OpenTelemetry traces; off
unless an endpoint is set). Logs go
to stdout: one readable line an event at a terminal in development mode, JSON lines anywhere
else (a pipe, a file, production). The start-up summary is printed on stderr.

Bull Board (under /admin/queues on the admin listener) opens with admin.username and
admin.password. In development mode with no admin.password and a loopback admin.host, a
password is generated for each run and printed in the start-up summary; in production no
password means Bull Board is off.

In development mode only (mode: development), when nothing answers at redis.url on this
machine and REDIS_URL is unset, a private redis-server is started from PATH (AOF on, noeviction,
data in ./data/redis) and stopped with the relay. In production the relay never starts one: it
keeps trying the configured Redis, and the receiver spools callbacks to spool.dir meanwhile.

Exit codes: 0 stopped cleanly, 1 could not start (invalid config, no Redis, port in use) or did
not stop in time, 2 usage error.`;

export const startCommand: Command = {
  name: 'start',
  summary: 'run the relay: --role all (default), receiver or worker',
  help,
  async run(argv, io) {
    const values = parseOptions('start', argv, { role: { type: 'string' }, config: { type: 'string' } });
    const role = (values.role ?? 'all') as Role;
    if (!ROLES.includes(role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}, got "${String(values.role)}"`, 'start');

    const config = loadCommandConfig('start', values.config, io, 'Fix the values named above (zego-relay check-config helps), then start again.');
    if (!config) return ExitCode.failure;
    return runRelay(role, config, io);
  },
};

/** Runs the role's parts until a signal or a start-up failure stops them; resolves with the exit code. */
function runRelay(role: Role, config: RelayConfig, io: CommandIo): Promise<number> {
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

async function startParts(role: Role, config: RelayConfig, io: CommandIo, logger: Logger, lifecycle: Lifecycle): Promise<void> {
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
