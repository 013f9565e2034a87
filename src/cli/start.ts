/**
 * `zego-relay start --role all|receiver|worker`: runs the relay until SIGTERM/SIGINT.
 * all = receiver + delivery workers + admin; receiver = receiver + admin; worker = workers + admin
 * (metrics and health). Shutdown order: stop taking callbacks, let deliveries in flight finish
 * (bounded by delivery.shutdownTimeout), close the admin listener, stop a private Redis last.
 */
import { ConfigError } from '../errors.js';
import { maskUrlCredentials } from '../lib/redact.js';
import { loadConfig, resolveConfigPath, type RelayConfig } from '../config/load.js';
import { startAdmin } from '../ops/admin.js';
import { runAdminCredentials } from '../ops/admin-credentials.js';
import type { Logger } from '../lib/logger.js';
import { ensureRedis, RedisServerMissingError } from '../dev/private-redis.js';
import { startReceiver } from '../receive/server.js';
import { startWorkers } from '../../workers/delivery.js';
import { ExitCode, parseOptions, say, UsageError, type Command, type CommandIo } from './command.js';
import { configWarnings } from './config-warnings.js';
import { startBanner, type Role } from './start-banner.js';

export const ROLES: readonly Role[] = ['all', 'receiver', 'worker'];

/** On top of delivery.shutdownTimeout: time for listeners and Redis to close before exit is forced. */
const SHUTDOWN_SLACK_MS = 10_000;

const help = `Usage: zego-relay start [--role all|receiver|worker] [--config FILE]

Runs the relay until SIGTERM or SIGINT (Ctrl-C).
  --role all        receiver + delivery workers + admin listener in one process (default; npm start)
  --role receiver   the public callback listener + admin listener (scale for incoming traffic)
  --role worker     delivery workers + admin listener for metrics and health (scale for delivery)
  --config FILE     the YAML file (default: $RELAY_CONFIG, else config/relay.yaml)
  -h, --help        this text

Environment: RELAY_CONFIG, REDIS_URL (overrides redis.url), PORT (overrides server.port),
LOG_LEVEL (trace, debug, info, warn, error; default info), LOG_FORMAT (json or pretty). Logs go
to stdout: one readable line an event at a terminal in development mode, JSON lines anywhere
else (a pipe, a file, production). The start-up summary is printed on stderr.

Bull Board (under /admin/queues on the admin listener) opens with admin.username and
admin.password. In development mode with no admin.password and a loopback admin.host, a
password is generated for each run and printed in the start-up summary; in production no
password means Bull Board is off.

When nothing answers at redis.url on this machine and REDIS_URL is unset, a private
redis-server is started from PATH (AOF on, noeviction, data in ./data/redis) and stopped with
the relay.

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

    let config: RelayConfig;
    try {
      config = loadConfig({ path: resolveConfigPath(values.config as string | undefined, io.env), env: io.env });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      say(io.stderr, `zego-relay start: ${error.message}\nFix the values named above (zego-relay check-config helps), then start again.`);
      return ExitCode.failure;
    }
    return runRelay(role, config, io);
  },
};

/**
 * Starts the parts and resolves with the exit code once the relay has stopped. Start-up runs on
 * its own so that a signal (or a start-up failure) ends the process even while a part is still
 * waiting for Redis.
 */
async function runRelay(role: Role, config: RelayConfig, io: CommandIo): Promise<number> {
  const logger = io.logger(config.mode).child({ role });
  const lifecycle = new Lifecycle(config, logger);
  const onSignal = (signal: NodeJS.Signals) => void lifecycle.stop(signal);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  startParts(role, config, io, logger, lifecycle).catch((error: unknown) => {
    // A part that fails because a stop request closed what it depended on is no start-up failure.
    if (lifecycle.stopping) return;
    say(io.stderr, `zego-relay start: ${startFailure(error, config)}`);
    logger.error({ err: error instanceof Error ? error.message : String(error) }, 'zego-relay could not start');
    void lifecycle.stop('start-up failure', { failed: true });
  });
  const code = await lifecycle.done;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  return code;
}

async function startParts(role: Role, config: RelayConfig, io: CommandIo, logger: Logger, lifecycle: Lifecycle): Promise<void> {
  logger.info({ config: config.source, mode: config.mode, targets: config.targets.map((t) => t.name) }, 'zego-relay starting');
  for (const warning of configWarnings(config)) logger.warn({ warning }, 'configuration warning');

  const redis = await ensureRedis(config, { logger, env: io.env });
  await lifecycle.adopt('redis', redis.stop);
  const credentials = runAdminCredentials(config);
  const admin = await startAdmin(config, { logger, credentials });
  await lifecycle.adopt('admin', admin.close);
  const receiver = role === 'worker' || lifecycle.stopping ? undefined : await startReceiver(config, { logger });
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

/** What start-up opened, closed in this order: stop taking callbacks first, stop Redis last. */
const CLOSE_ORDER = ['receiver', 'workers', 'admin', 'redis'] as const;
type Part = (typeof CLOSE_ORDER)[number];

/**
 * The relay's parts and their shutdown: once, in CLOSE_ORDER, bounded by
 * delivery.shutdownTimeout plus some slack; a second signal forces the exit at once.
 */
class Lifecycle {
  private readonly parts = new Map<Part, () => Promise<void>>();
  private stopped: Promise<number> | undefined;
  private failed = false;
  private resolveDone: (code: number) => void = () => {};
  /** Resolves with the exit code once the relay has stopped (or the exit was forced). */
  readonly done = new Promise<number>((resolve) => {
    this.resolveDone = resolve;
  });

  constructor(
    private readonly config: RelayConfig,
    private readonly logger: Logger,
  ) {}

  get stopping(): boolean {
    return this.stopped !== undefined;
  }

  /** Registers a started part; a part that finished starting after a stop request is closed at once. */
  async adopt(part: Part, close: () => Promise<void>): Promise<void> {
    this.parts.set(part, close);
    if (this.stopped) await this.closePart(part);
  }

  /** Stops the relay once; `failed` makes the exit code 1 (a start-up failure). */
  stop(reason: string, options: { failed?: boolean } = {}): Promise<number> {
    if (options.failed) this.failed = true;
    if (this.stopped) {
      if (reason === 'SIGINT' || reason === 'SIGTERM') {
        this.logger.warn({ signal: reason }, 'second signal: exiting now without waiting for deliveries in flight');
        this.resolveDone(ExitCode.failure);
      }
      return this.stopped;
    }
    this.logger.info({ reason }, 'zego-relay stopping');
    this.stopped = this.closeAll();
    return this.stopped;
  }

  private async closeAll(): Promise<number> {
    const bound = this.config.delivery.shutdownTimeout + SHUTDOWN_SLACK_MS;
    const forced = setTimeout(() => {
      this.logger.error({ afterMs: bound }, 'shutdown took too long: exiting anyway');
      this.resolveDone(ExitCode.failure);
    }, bound);
    forced.unref();
    let clean = true;
    for (const part of CLOSE_ORDER) clean = (await this.closePart(part)) && clean;
    clearTimeout(forced);
    const code = clean && !this.failed ? ExitCode.ok : ExitCode.failure;
    this.logger.info({ exitCode: code }, 'zego-relay stopped');
    this.resolveDone(code);
    return code;
  }

  private async closePart(part: Part): Promise<boolean> {
    const close = this.parts.get(part);
    if (!close) return true;
    this.parts.delete(part);
    try {
      await close();
      this.logger.info({ part }, 'stopped');
      return true;
    } catch (error) {
      this.logger.error({ part, err: error instanceof Error ? error.message : String(error) }, 'did not stop cleanly');
      return false;
    }
  }
}
