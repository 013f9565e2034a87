/**
 * Structured logs on stdout: one JSON object a line, or with the `pretty` format one readable line
 * an event for a person at a terminal (see chooseLogFormat). LOG_LEVEL picks the level (default
 * info). Secrets never reach a log line: redact covers the places they could appear, and runs
 * before either format writes.
 */
import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { PrettyOptions } from 'pino-pretty';

export type { Logger };

export type LogFormat = 'json' | 'pretty';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];

export interface LogFormatFacts {
  /** LOG_FORMAT, already checked against LOG_FORMATS. */
  readonly requested: LogFormat | undefined;
  readonly stdoutIsTty: boolean;
  readonly mode: 'development' | 'production';
}

/**
 * LOG_FORMAT when set; else pretty only for a person at a terminal in development mode. Anything
 * read by a program (a pipe, a file, a log collector, production) gets JSON lines.
 */
export function chooseLogFormat(facts: LogFormatFacts): LogFormat {
  if (facts.requested) return facts.requested;
  return facts.stdoutIsTty && facts.mode === 'development' ? 'pretty' : 'json';
}

const PRETTY_OPTIONS: PrettyOptions = { singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' };

/**
 * pino-pretty's formatter applied to each JSON line as pino writes it, written synchronously:
 * nothing is left in a buffer when the CLI exits. Loaded only when asked for.
 */
function prettyDestination(): DestinationStream {
  const { prettyFactory } = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
  const prettify = prettyFactory(PRETTY_OPTIONS);
  const stdout = pino.destination({ dest: 1, sync: true });
  return { write: (line: string) => void stdout.write(prettify(line)) };
}

export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', format: LogFormat = 'json'): Logger {
  // Asynchronous writes: a synchronous write per callback was ~7% of the receiver's CPU. pino
  // flushes what is buffered when the process exits; only a SIGKILL can lose the last lines.
  const destination = format === 'pretty' ? prettyDestination() : pino.destination({ dest: 1, sync: false });
  return pino({
    level,
    base: { service: 'zego-relay' },
    // A safety net: no log call passes these. Exact paths only; leading wildcards make pino walk
    // every logged object, which cost ~2% of the relay's CPU with two lines per callback.
    redact: {
      paths: ['secret', 'signature', 'password', 'headers.authorization', 'err.options.headers.authorization'],
      censor: '[redacted]',
    },
  }, destination);
}

/** A logger that writes nothing, for tests and library use. */
export const silentLogger: Logger = pino({ level: 'silent' });
