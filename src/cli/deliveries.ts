/**
 * `zego-relay deliveries --target NAME [--limit N] [--json]`: the latest deliveries to a target,
 * newest first, the same list as `GET /admin/api/targets/NAME/deliveries`. A delivery the router
 * made on its first attempt leaves no job in Bull Board; this is where it shows.
 */
import { recentDeliveries, type RecordedDelivery } from '../targets/delivery-record.js';
import { DEFAULT_DELIVERIES_LIMIT, MAX_DELIVERIES_LIMIT, parseDeliveriesLimit } from '../admin/deliveries.js';
import { parseOptions, say, UsageError, type Command } from './command.js';
import { ExitCode } from '../process/exit-code.js';
import { readFromRedis } from './redis-read.js';

const help = `Usage: zego-relay deliveries --target NAME [--limit N] [--json] [--config FILE]

Lists the latest deliveries to one target, newest first: when, the callback id (webhook-id), the
event, the attempt that delivered it (x-relay-attempt), the target's status, how long the attempt
took, and who made it: the router's first attempt (no job was queued) or a worker's job. The relay
keeps about retention.completedCount of them per target. Waiting, retrying and dead-lettered
deliveries are jobs: Bull Board and GET /admin/api/targets show them.
The admin listener serves the same list at GET /admin/api/targets/NAME/deliveries?limit=N.

Options:
  --target NAME   the target (targets[].name)
  --limit N       at most N (1 to ${MAX_DELIVERIES_LIMIT}, default ${DEFAULT_DELIVERIES_LIMIT})
  --json          print the list as one JSON array (as the admin API answers)
  --config FILE   the YAML file (default: $RELAY_CONFIG, else config/relay.yaml)
  -h, --help      this text

Exit codes: 0 listed (also when nothing was delivered yet), 1 failed (invalid config, unknown
target, Redis unreachable), 2 usage error.`;

export const deliveriesCommand: Command = {
  name: 'deliveries',
  summary: "list a target's latest deliveries (also those that left no job)",
  help,
  async run(argv, io) {
    const values = parseOptions('deliveries', argv, { target: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' }, config: { type: 'string' } });
    const target = values.target as string | undefined;
    if (!target) throw new UsageError('--target NAME is required (see zego-relay deliveries --help)', 'deliveries');
    const limit = parseDeliveriesLimit(values.limit as string | undefined);
    if (limit === undefined) {
      throw new UsageError(`--limit must be a whole number from 1 to ${MAX_DELIVERIES_LIMIT}, got "${String(values.limit)}"`, 'deliveries');
    }
    const deliveries = await readFromRedis(
      'deliveries',
      values.config as string | undefined,
      io,
      (redis, config) => recentDeliveries(redis, config.redis.prefix, target, limit),
      (config) => {
        if (config.targets.some((candidate) => candidate.name === target)) return undefined;
        const known = config.targets.map((candidate) => candidate.name);
        return `no target named "${target}" in the configuration (targets: ${known.length > 0 ? known.join(', ') : 'none'})`;
      },
    );
    if (!deliveries) return ExitCode.failure;
    if (values.json) say(io.stdout, JSON.stringify(deliveries, null, 2));
    else if (deliveries.length === 0) say(io.stdout, `no delivery to ${target} is recorded`);
    else for (const delivery of deliveries) say(io.stdout, describeDelivery(delivery));
    return ExitCode.ok;
  },
};

/** One line for people. The event is printed escaped: it came from a sender. */
function describeDelivery(delivery: RecordedDelivery): string {
  const event = JSON.stringify(delivery.event).slice(1, -1);
  const by = delivery.by === 'router' ? 'first attempt by the router' : 'job';
  return `${delivery.at}  ${delivery.callbackId}  ${event}  attempt ${delivery.attempt}  ${delivery.status}  ${delivery.durationMs} ms  ${by}`;
}
