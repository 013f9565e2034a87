/**
 * `zego-relay start --role all|receiver|worker`: runs the relay until SIGTERM/SIGINT.
 * all = receiver + delivery workers + admin; receiver = receiver + admin; worker = workers + admin
 * (metrics and health). The parts are assembled and stopped by src/roles/run-relay.ts.
 */
import { ExitCode } from '../process/exit-code.js';
import { runRelay } from '../roles/run-relay.js';
import type { Role } from '../roles/start-banner.js';
import { loadCommandConfig, parseOptions, UsageError, type Command } from './command.js';

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
