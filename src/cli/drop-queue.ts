/**
 * `zego-relay drop-queue --target NAME [--yes]`: what Redis still holds of a target removed from
 * the configuration (deliveries waiting for it, its dead letters), and deleting it with --yes.
 */
import { UnavailableError } from '../errors.js';
import { dropTargetQueue, QUEUE_CONTENT_STATES, TargetStillConfiguredError, type QueueContents } from '../targets/drop-queue.js';
import { loadCommandConfig, parseOptions, say, UsageError, type Command } from './command.js';
import { ExitCode } from '../process/exit-code.js';

const help = `Usage: zego-relay drop-queue --target NAME [--yes] [--config FILE]

A target removed from the configuration leaves its queue in Redis: deliveries that were waiting
for it, its dead letters and its delivered jobs. Nothing reads them any more (no worker, no
replay, no metrics). This command shows what the queue holds and, with --yes, deletes it for good
(with the target's breaker state). NAME must no longer be in the configuration, and the worker
processes must run without it. To deliver what is left first, see docs/RUNBOOKS.md (remove a target).

Options:
  --target NAME   the removed target's name
  --yes           delete; without it, only show what would be deleted
  --config FILE   the YAML file (default: $RELAY_CONFIG, else config/relay.yaml)
  -h, --help      this text

Exit codes: 0 shown or deleted (also when nothing is left), 1 failed (invalid config, NAME still
configured, Redis unreachable), 2 usage error.`;

export const dropQueueCommand: Command = {
  name: 'drop-queue',
  summary: 'show, and with --yes delete, the queue a removed target left in Redis',
  help,
  async run(argv, io) {
    const values = parseOptions('drop-queue', argv, { target: { type: 'string' }, yes: { type: 'boolean' }, config: { type: 'string' } });
    const target = values.target as string | undefined;
    if (!target) throw new UsageError('--target NAME is required (see zego-relay drop-queue --help)', 'drop-queue');
    const drop = values.yes === true;
    const config = loadCommandConfig('drop-queue', values.config, io);
    if (!config) return ExitCode.failure;
    try {
      const contents = await dropTargetQueue(config, target, drop);
      const total = QUEUE_CONTENT_STATES.reduce((sum, state) => sum + contents[state], 0);
      say(io.stdout, `queue of target ${target}: ${describeContents(contents)}`);
      if (drop) say(io.stdout, `deleted the queue of target ${target} (${total} job${total === 1 ? '' : 's'}) and its breaker state`);
      else if (total > 0) say(io.stdout, `nothing deleted: run again with --yes to delete these ${total} job${total === 1 ? '' : 's'} for good`);
      else say(io.stdout, 'nothing to delete');
      return ExitCode.ok;
    } catch (error) {
      if (error instanceof TargetStillConfiguredError || error instanceof UnavailableError) {
        say(io.stderr, `zego-relay drop-queue: ${error.message}`);
        return ExitCode.failure;
      }
      throw error;
    }
  },
};

/** `3 waiting, 12 failed (dead letters)`, or `empty`. */
function describeContents(contents: QueueContents): string {
  const parts = QUEUE_CONTENT_STATES.filter((state) => contents[state] > 0).map((state) => `${contents[state]} ${state === 'failed' ? 'failed (dead letters)' : state}`);
  return parts.length > 0 ? parts.join(', ') : 'empty';
}
