/**
 * `zego-relay replay --target NAME [--since 24h] [--limit N]`: re-queues a target's dead letters
 * (most recently failed first) with a fresh retry schedule, and prints how many.
 */
import { UnavailableError } from '../errors.js';
import { parseDuration } from '../config/units.js';
import { replayDeadLetters, UnknownTargetError } from '../targets/replay.js';
import { loadCommandConfig, parseOptions, positiveInteger, say, UsageError, type Command } from './command.js';
import { ExitCode } from '../process/exit-code.js';

const help = `Usage: zego-relay replay --target NAME [--since DURATION] [--limit N] [--config FILE]

Re-queues the dead-lettered deliveries of one target (BullMQ failed jobs, visible in Bull Board),
most recently failed first. Each gets the target's whole retry schedule again and keeps its
webhook-id, so the target can recognise one it already processed. Run it once the target is
fixed; workers deliver the re-queued jobs.

Options:
  --target NAME       the target (targets[].name)
  --since DURATION    only dead letters that failed within this long, e.g. 30m, 24h, 7d (default: all)
  --limit N           at most N dead letters (default: all)
  --config FILE       the YAML file (default: $RELAY_CONFIG, else config/relay.yaml)
  -h, --help          this text

Exit codes: 0 done (also when there was nothing to replay), 1 failed (invalid config, unknown
target, Redis unreachable), 2 usage error.`;

export const replayCommand: Command = {
  name: 'replay',
  summary: "re-queue a target's dead-lettered deliveries",
  help,
  async run(argv, io) {
    const values = parseOptions('replay', argv, {
      target: { type: 'string' }, since: { type: 'string' }, limit: { type: 'string' }, config: { type: 'string' },
    });
    const target = values.target as string | undefined;
    if (!target) throw new UsageError('--target NAME is required (see zego-relay replay --help)', 'replay');
    const since = values.since as string | undefined;
    const sinceMs = since === undefined ? undefined : parseDuration(since);
    if (since !== undefined && (sinceMs === undefined || sinceMs === 0)) {
      throw new UsageError(`--since must be a duration like 30m, 24h or 7d, got "${since}"`, 'replay');
    }
    const limit = values.limit === undefined ? undefined : positiveInteger('limit', values.limit as string, 1, 'replay');

    const config = loadCommandConfig('replay', values.config, io);
    if (!config) return ExitCode.failure;
    let replayed = 0;
    try {
      replayed = await replayDeadLetters({ config, target, sinceMs, limit, onReplayed: (count) => (replayed = count) });
      say(io.stdout, `re-queued ${replayed} dead letter${replayed === 1 ? '' : 's'} of target ${target}`);
      return ExitCode.ok;
    } catch (error) {
      if (error instanceof UnavailableError) {
        say(io.stdout, `re-queued ${replayed} dead letter${replayed === 1 ? '' : 's'} of target ${target} before stopping`);
        say(io.stderr, `zego-relay replay: ${error.message}: check that Redis runs (REDIS_URL, redis.url), then run the same command again to re-queue the rest`);
        return ExitCode.failure;
      }
      if (error instanceof UnknownTargetError) {
        say(io.stderr, `zego-relay replay: ${error.message}`);
        return ExitCode.failure;
      }
      throw error;
    }
  },
};
