/**
 * `zego-relay poisoned [--limit N] [--json]`: the intake entries a router could not route and set
 * aside, newest first (src/intake/poisoned-entries.ts). Every value printed is escaped: whoever wrote
 * such an entry chose its bytes.
 */
import { listPoisoned, POISONED_MAX_ENTRIES, type PoisonedEntry } from '../intake/poisoned-entries.js';
import { parseOptions, positiveInteger, say, UsageError, type Command } from './command.js';
import { ExitCode } from '../process/exit-code.js';
import { readFromRedis } from './redis-read.js';
import { printable } from './show.js';

const DEFAULT_LIMIT = 100;

const help = `Usage: zego-relay poisoned [--limit N] [--json] [--config FILE]

Lists the intake entries a router could not route, newest first: when it set each aside, the
intake shard and entry id, why (an entry the receiver did not write, or one the queue refused),
and the entry's fields as they were. A router sets such an entry aside so that the rest of its
batch is routed; the relay keeps the latest ${POISONED_MAX_ENTRIES} and never routes them by itself.
zego_relay_intake_poisoned_total counts them.

Options:
  --limit N       at most N (1 to ${POISONED_MAX_ENTRIES}, default ${DEFAULT_LIMIT})
  --json          print the list as one JSON array
  --config FILE   the YAML file (default: $RELAY_CONFIG, else config/relay.yaml)
  -h, --help      this text

Exit codes: 0 listed (also when none was set aside), 1 failed (invalid config, Redis
unreachable), 2 usage error.`;

export const poisonedCommand: Command = {
  name: 'poisoned',
  summary: 'list the intake entries no router could route (set aside so their batch went on)',
  help,
  async run(argv, io) {
    const values = parseOptions('poisoned', argv, { limit: { type: 'string' }, json: { type: 'boolean' }, config: { type: 'string' } });
    const limit = positiveInteger('limit', values.limit as string | undefined, DEFAULT_LIMIT, 'poisoned');
    if (limit > POISONED_MAX_ENTRIES) throw new UsageError(`--limit must be at most ${POISONED_MAX_ENTRIES}, got ${limit}`, 'poisoned');
    const entries = await readFromRedis('poisoned', values.config as string | undefined, io, (redis, config) => listPoisoned(redis, config.redis.prefix, limit));
    if (!entries) return ExitCode.failure;
    if (values.json) say(io.stdout, JSON.stringify(entries, null, 2));
    else if (entries.length === 0) say(io.stdout, 'no intake entry was set aside');
    else for (const entry of entries) say(io.stdout, describeEntry(entry));
    return ExitCode.ok;
  },
};

/** Two lines for people: when, where and why; then the fields. */
function describeEntry(entry: PoisonedEntry): string {
  const fields = [];
  for (let index = 0; index < entry.fields.length; index += 2) fields.push(`${entry.fields[index]}=${JSON.stringify(entry.fields[index + 1] ?? '')}`);
  return [
    `${printable(entry.at)}  shard ${entry.shard}  entry ${printable(entry.entryId)}  ${printable(entry.reason)}`,
    `  ${fields.length === 0 ? '(no fields)' : printable(fields.join(' '))}`,
  ].join('\n');
}
