/**
 * `zego-relay rejected [--limit N] [--json]`: the latest requests the receiver refused, newest
 * first, the same list as `GET /admin/api/rejected`. Everything printed that a sender chose (body,
 * content type) is escaped, so a crafted body cannot drive the operator's terminal.
 */
import { DEFAULT_REJECTED_LIMIT, parseRejectedLimit } from '../rejected/admin-route.js';
import { listRejected, REJECTED_MAX_SAMPLES, type RejectedSample } from '../rejected/log.js';
import { parseOptions, say, UsageError, type Command } from './command.js';
import { ExitCode } from '../process/exit-code.js';
import { readFromRedis } from './redis-read.js';
import { printable } from './show.js';

const help = `Usage: zego-relay rejected [--limit N] [--json] [--config FILE]

Lists the latest requests the receiver refused (4xx on the callback path), newest first: when,
the answer (status, code, message), the declared content type, the size and the first 2 KB of
the body with signature values masked. The relay keeps at most ${REJECTED_MAX_SAMPLES} of them, for 24 h.
When ZEGO's callbacks are refused, this shows what ZEGO really sends.
The admin listener serves the same list at GET /admin/api/rejected?limit=N.

Options:
  --limit N       at most N (1 to ${REJECTED_MAX_SAMPLES}, default ${DEFAULT_REJECTED_LIMIT})
  --json          print the list as one JSON array (as the admin API answers)
  --config FILE   the YAML file (default: $RELAY_CONFIG, else config/relay.yaml)
  -h, --help      this text

Exit codes: 0 listed (also when nothing was refused), 1 failed (invalid config, Redis
unreachable), 2 usage error.`;

export const rejectedCommand: Command = {
  name: 'rejected',
  summary: 'list the latest requests the receiver refused (what a sender really sent)',
  help,
  async run(argv, io) {
    const values = parseOptions('rejected', argv, { limit: { type: 'string' }, json: { type: 'boolean' }, config: { type: 'string' } });
    const limit = parseRejectedLimit(values.limit as string | undefined);
    if (limit === undefined) {
      throw new UsageError(`--limit must be a whole number from 1 to ${REJECTED_MAX_SAMPLES}, got "${String(values.limit)}"`, 'rejected');
    }
    const samples = await readFromRedis('rejected', values.config as string | undefined, io, (redis, config) => listRejected(redis, config.redis.prefix, limit));
    if (!samples) return ExitCode.failure;
    if (values.json) say(io.stdout, JSON.stringify(samples, null, 2));
    else if (samples.length === 0) say(io.stdout, 'no request was refused in the last 24 h');
    else for (const sample of samples) say(io.stdout, describeSample(sample));
    return ExitCode.ok;
  },
};

/** Three lines for people: the answer, its message, the body. */
function describeSample(sample: RejectedSample): string {
  const type = sample.contentType === null ? 'no content type' : printable(sample.contentType);
  return [
    `${sample.at}  ${sample.status} ${sample.code}  ${type}  ${sample.size} bytes${sample.truncated ? ' (first 2 KB shown)' : ''}`,
    `  ${printable(sample.message)}`,
    `  ${sample.body === '' ? '(no body)' : printable(sample.body)}`,
  ].join('\n');
}
