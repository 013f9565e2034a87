/**
 * What every `zego-relay` command shares: its shape, the exit codes scripts rely on, the usage
 * error, option parsing with `--help`, and loading the config (or saying why it is invalid).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Environment } from '../config/env-substitution.js';
import { loadConfig, resolveConfigPath, type RelayConfig } from '../config/load.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../lib/logger.js';
import { ExitCode } from '../process/exit-code.js';

/** Where a command writes and what environment it sees (tests pass their own). */
export interface CommandIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly env: Environment;
  /**
   * The process's logger on stdout, created at the first call and the same one after: its format
   * depends on the config's mode (chooseLogFormat), which a command knows once it has loaded it.
   */
  readonly logger: (mode: RelayConfig['mode']) => Logger;
}

export interface Command {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** The full `--help` text. */
  readonly help: string;
  /** Runs the command and resolves with its exit code. */
  run(argv: readonly string[], io: CommandIo): Promise<number>;
}

/** A wrong command line: the message says what to type instead; exit code 2. */
export class UsageError extends Error {
  constructor(message: string, readonly command?: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses a command's options (no positionals). `--help`/`-h` is handled before (main.ts prints
 * the command's help). Unknown options and missing values become a UsageError naming the command.
 */
export function parseOptions<T extends Options>(command: string, argv: readonly string[], options: T) {
  try {
    return parseArgs({
      args: [...argv],
      options,
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new UsageError((error as Error).message, command);
  }
}

/** A positive integer option, or a UsageError naming the option. */
export function positiveInteger(name: string, value: string | undefined, fallback: number, command: string): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`--${name} must be a positive integer, got "${value}"`, command);
  return Number(value);
}

/** Writes a line. */
export function say(stream: NodeJS.WritableStream, text = ''): void {
  stream.write(`${text}\n`);
}

/**
 * The config named by `--config` (else RELAY_CONFIG, else config/relay.yaml), or undefined after
 * writing `zego-relay COMMAND: <what is wrong>` and `advice` on stderr: the caller then exits
 * with ExitCode.failure. Errors other than an invalid or unreadable config are thrown.
 */
export function loadCommandConfig(command: string, configOption: unknown, io: CommandIo, advice?: string): RelayConfig | undefined {
  try {
    return loadConfig({ path: resolveConfigPath(configOption as string | undefined, io.env), env: io.env });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    say(io.stderr, `zego-relay ${command}: ${error.message}`);
    if (advice) say(io.stderr, advice);
    return undefined;
  }
}
