/**
 * `zego-relay check-config`: validates a config file the way `start` would, prints what it would
 * run (targets and which events route where), the Redis topology it finds (unless --offline) and
 * warns about doubtful settings. Never prints a secret. Exit 0 valid (even with warnings), 1 invalid.
 * An unreachable Redis is reported, not a failure: the file may be checked away from production.
 */
import { resolveConfigPath, type RelayConfig, type Target } from '../config/load.js';
import { formatDuration, formatSize } from '../config/units.js';
import { bullBoardAccess } from '../admin/credentials.js';
import { intakeKeys } from '../shared/names.js';
import { loadCommandConfig, parseOptions, say, type Command } from './command.js';
import { ExitCode } from '../process/exit-code.js';
import { configWarnings, routingTable } from '../roles/config-warnings.js';
import { describeRedis } from '../config/redis-topology.js';
import { describeRedisError } from '../redis/outage.js';
import { formatTopology, probeTopology, topologyWarnings, type TopologyReport } from '../redis/topology-probe.js';
import { displayUrl } from '../lib/redact.js';
import { reachableHost } from '../lib/reachable-host.js';
import { formatSchedule } from './show.js';

const help = `Usage: zego-relay check-config [--config FILE] [--offline]

Validates the configuration, prints the targets and which events route where, and warns about
doubtful settings (a target that matches nothing, a placeholder secret, no admin password, ...).
It also connects to Redis and shows the topology it finds: a cluster's masters, slots and
replicas, or the Sentinel primary and its replicas; it warns when redis.waitReplicas asks for
more replicas than exist or a master has no replica. Secrets are never printed.

Options:
  --config FILE   the YAML file (default: $RELAY_CONFIG, else config/relay.yaml)
  --offline       do not connect to Redis
  -h, --help      this text

Exit codes: 0 valid (warnings are printed but do not fail), 1 invalid, 2 usage error.`;

export const checkConfigCommand: Command = {
  name: 'check-config',
  summary: 'validate the config, print targets and routes, warn about doubtful settings',
  help,
  async run(argv, io) {
    const options = parseOptions('check-config', argv, { config: { type: 'string' }, offline: { type: 'boolean' } });
    const path = resolveConfigPath(options.config as string | undefined, io.env);
    const config = loadCommandConfig('check-config', options.config, io, 'Fix the values named above, then run check-config again.');
    if (!config) return ExitCode.failure;
    const probe: { report?: TopologyReport; error?: unknown } = options.offline
      ? {}
      : await probeTopology(config.redis, { intakeStreams: intakeStreams(config) }).then((report) => ({ report }), (error: unknown) => ({ error }));
    say(io.stdout, describeConfig(config, redisFindings(probe)).join('\n'));
    const warnings = [...configWarnings(config), ...(probe.report ? topologyWarnings(probe.report, config.redis.waitReplicas) : [])];
    if (warnings.length > 0) {
      say(io.stdout, `\nwarnings (${warnings.length}):`);
      for (const warning of warnings) say(io.stdout, `  - ${warning}`);
    }
    say(io.stdout, `\n${path}: valid${warnings.length ? ` with ${warnings.length} warning(s)` : ''}`);
    return ExitCode.ok;
  },
};

function bullBoardSummary(config: RelayConfig): string {
  const access = bullBoardAccess(config);
  if (access === 'off') return '; Bull Board and admin API off: no admin.password';
  const generated = access === 'generated' ? '; development mode without admin.password: each start generates a password and prints it' : '';
  return `, Bull Board at /admin/queues and admin API at /admin/api${config.admin.readOnly ? ', read-only' : ''}${generated}`;
}

function intakeStreams(config: RelayConfig): string[] {
  return Array.from({ length: config.intake.shards }, (_unused, shard) => intakeKeys(config.redis.prefix, shard).stream);
}

/** What the Redis probe found, as lines under `redis:` (none when --offline). */
function redisFindings(probe: { report?: TopologyReport; error?: unknown }): string[] {
  if (probe.report) return formatTopology(probe.report);
  if (probe.error !== undefined) return [`not reachable from here: ${describeRedisError(probe.error).message} (topology not checked)`];
  return [];
}

/** The human summary of a loaded config: listeners, Redis (and what was found there), apps, targets, routes. */
export function describeConfig(config: RelayConfig, redisLines: readonly string[] = []): string[] {
  const { server, admin } = config;
  const lines = [
    `config: ${config.source} (mode: ${config.mode})`,
    `callbacks: POST http://${reachableHost(server.host)}:${server.port}${server.callbackPath} (listening on ${server.host}:${server.port})`,
    `admin: http://${reachableHost(admin.host)}:${admin.port} (metrics, health${bullBoardSummary(config)})`,
    `redis: ${describeRedis(config.redis)} (key prefix ${config.redis.prefix}, waitReplicas ${config.redis.waitReplicas}${config.redis.tls ? ', TLS' : ''})`,
    ...redisLines.map((line) => `  ${line}`),
    `intake: ${config.intake.shards} shard${config.intake.shards > 1 ? 's' : ''} (${intakeKeys(config.redis.prefix, 0).stream}${config.intake.shards > 1 ? ', ...' : ''}); routers take ${config.intake.batchSize} at a time, a crashed router's batch is taken over after ${formatDuration(config.intake.claimAfter)}`,
    config.spool
      ? `spool: ${config.spool.dir} (at most ${formatSize(config.spool.maxBytes)}; callbacks are fsynced there while Redis cannot take them; one receiver per directory)`
      : 'spool: off (callbacks get 503 while Redis cannot take them)',
    `apps: ${config.zego.apps.map((app) => `${app.appId} (${app.callbackSecrets.length} secret${app.callbackSecrets.length > 1 ? 's' : ''})`).join(', ')}`,
    '',
    `targets (${config.targets.length}):`,
  ];
  for (const target of config.targets) {
    lines.push(`  ${target.name}  ${displayUrl(target.url)}`);
    lines.push(
      `    events ${target.events.join(', ')} · apps ${target.appIds?.join(', ') ?? 'all'} · timeout ${formatDuration(target.timeout)}` +
        ` · concurrency ${target.concurrency} · rate limit ${target.rateLimit ? `${target.rateLimit.max}/${formatDuration(target.rateLimit.duration)}` : 'none'}` +
        ` · signed ${target.signingSecrets.length > 0 ? 'yes' : 'no'}`,
    );
    lines.push(`    retries ${formatSchedule(target.retry.schedule)} (${1 + target.retry.schedule.length} attempts, jitter ${target.retry.jitter})`);
    lines.push(`    breaker ${describeBreaker(target.breaker)}`);
    lines.push(`    ordering ${describeOrdering(target.ordering)}`);
  }
  lines.push('', 'routes (known ZEGO events; others follow the same patterns):');
  for (const { appId, groups } of groupRoutes(config)) {
    lines.push(`  app ${appId}:`);
    for (const [targets, events] of groups) lines.push(`    ${events.join(', ')} -> ${targets || '(unrouted: kept, delivered nowhere)'}`);
  }
  return lines;
}

/** `opens after 5m of failures (at least 20), probes every 30s`, or `off`. */
function describeBreaker(breaker: Target['breaker']): string {
  if (!breaker) return 'off';
  return `opens after ${formatDuration(breaker.openAfter)} of failures only (at least ${breaker.minFailures}), then probes every ${formatDuration(breaker.probeInterval)}`;
}

/** `one delivery at a time per key: task_id, else room_id`, or `off`. */
function describeOrdering(ordering: Target['ordering']): string {
  if (!ordering) return 'off (deliveries in parallel, up to the concurrency)';
  return `one delivery at a time per key, in acknowledgement order; key: ${ordering.key.join(', else ')} (with the app id); callbacks without these fields unordered`;
}

/** Routes grouped by identical target lists, so `*` does not print a dozen identical lines. */
function groupRoutes(config: RelayConfig): { appId: string; groups: Map<string, string[]> }[] {
  const byApp = new Map<string, Map<string, string[]>>();
  for (const row of routingTable(config)) {
    const groups = byApp.get(row.appId) ?? new Map<string, string[]>();
    byApp.set(row.appId, groups);
    const key = row.targets.join(', ');
    groups.set(key, [...(groups.get(key) ?? []), row.event]);
  }
  return [...byApp].map(([appId, groups]) => ({ appId, groups }));
}
