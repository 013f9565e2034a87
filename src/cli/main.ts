/**
 * The `zego-relay` command (bin/zego-relay.js runs the compiled copy of this file). Reads
 * LOG_LEVEL and LOG_FORMAT once, here, dispatches to one command, and exits with its code:
 * 0 ok, 1 failure or invalid, 2 usage error.
 */
import { chooseLogFormat, createLogger, LOG_FORMATS, type LogFormat, type Logger } from '../lib/logger.js';
import { maskUrlCredentials } from '../lib/redact.js';
import { RELAY_VERSION } from '../shared/version.js';
import { checkConfigCommand } from './check-config.js';
import { deliveriesCommand } from './deliveries.js';
import { say, UsageError, type Command, type CommandIo } from './command.js';
import { ExitCode } from '../process/exit-code.js';
import { dropQueueCommand } from './drop-queue.js';
import { poisonedCommand } from './poisoned.js';
import { rejectedCommand } from './rejected.js';
import { replayCommand } from './replay.js';
import { simulateCommand } from './simulate.js';
import { startCommand } from './start.js';

const COMMANDS: readonly Command[] = [startCommand, checkConfigCommand, replayCommand, rejectedCommand, poisonedCommand, deliveriesCommand, simulateCommand, dropQueueCommand];

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

function overview(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  return `Usage: zego-relay <command> [options]

A durable relay for ZEGO server callbacks.

Commands:
${COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`).join('\n')}

Run zego-relay <command> --help for a command's options.

Environment: RELAY_CONFIG (config file, default config/relay.yaml), REDIS_URL, PORT, RELAY_MODE
(production or development: overrides the file's mode), LOG_LEVEL, LOG_FORMAT (json or pretty;
default pretty at a terminal in development mode, else json).
Exit codes: 0 ok, 1 failure (invalid config, Redis missing, callbacks not acknowledged, ...),
2 usage error (unknown command or option).`;
}

/** Runs one command line and resolves with the exit code. */
export async function main(argv: readonly string[], io: CommandIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    say(name === undefined ? io.stderr : io.stdout, overview());
    return name === undefined ? ExitCode.usage : ExitCode.ok;
  }
  if (name === '--version' || name === '-v') {
    say(io.stdout, `zego-relay ${RELAY_VERSION}`);
    return ExitCode.ok;
  }
  const command = COMMANDS.find((candidate) => candidate.name === name);
  try {
    if (!command) throw new UsageError(`unknown command "${name}"; commands: ${COMMANDS.map((c) => c.name).join(', ')}`);
    if (rest.includes('--help') || rest.includes('-h')) {
      say(io.stdout, command.help);
      return ExitCode.ok;
    }
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      say(io.stderr, `zego-relay${error.command ? ` ${error.command}` : ''}: ${error.message}`);
      say(io.stderr, `Run zego-relay ${error.command ? `${error.command} ` : ''}--help for usage.`);
      return ExitCode.usage;
    }
    // An error's text may quote a URL with its credentials (a Redis URL); never print them.
    say(io.stderr, `zego-relay ${name}: unexpected error: ${maskUrlCredentials(error instanceof Error ? (error.stack ?? error.message) : String(error))}`);
    return ExitCode.failure;
  }
}

const requestedLevel = process.env.LOG_LEVEL?.toLowerCase();
if (requestedLevel && !LOG_LEVELS.has(requestedLevel)) {
  process.stderr.write(`zego-relay: LOG_LEVEL must be one of ${[...LOG_LEVELS].join(', ')}, got "${process.env.LOG_LEVEL}"\n`);
  process.exit(ExitCode.usage);
}
const requestedFormat = (process.env.LOG_FORMAT?.toLowerCase() || undefined) as LogFormat | undefined;
if (requestedFormat && !LOG_FORMATS.includes(requestedFormat)) {
  process.stderr.write(`zego-relay: LOG_FORMAT must be one of ${LOG_FORMATS.join(', ')}, got "${process.env.LOG_FORMAT}"\n`);
  process.exit(ExitCode.usage);
}
let logger: Logger | undefined;
const code = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  logger: (mode) =>
    (logger ??= createLogger(requestedLevel ?? 'info', chooseLogFormat({ requested: requestedFormat, stdoutIsTty: process.stdout.isTTY === true, mode }))),
});
// Commands leave nothing worth waiting for (a replay's Redis connection, got's keep-alive sockets).
process.exitCode = code;
setImmediate(() => process.exit(code));
