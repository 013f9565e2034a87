/**
 * Structured logs on stdout: one JSON object a line, or with the `pretty` format one readable line
 * an event for a person at a terminal (see chooseLogFormat). LOG_LEVEL picks the level (default
 * info). Secrets never reach a log line: errors go through one serializer that keeps only fields
 * known to be safe, and redact covers the other places a secret could appear; both run before
 * either format writes.
 */
import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { PrettyOptions } from 'pino-pretty';
import { maskHttpUrls, maskUrlCredentials } from './redact.js';

export type { Logger };

/** Fields of an error worth logging and never secret (network errors' and HTTP errors' details). */
const SAFE_ERROR_FIELDS = ['code', 'errno', 'syscall', 'address', 'port', 'status', 'statusCode'] as const;

/** How deep `cause` and AggregateError's `errors` are followed. */
const MAX_ERROR_DEPTH = 3;

/**
 * The one serializer of every error logged under `err` (or `error`). An allow-list, not a
 * deny-list: ioredis puts the failed command on its errors with every argument (AUTH's are the
 * user name and password, others carry keys and job data), got puts its request options with the
 * headers, and a library may add anything tomorrow. Only the type, the message and the stack
 * (URL credentials masked), the fields above and the bare command name are kept.
 */
/** Text of an error as it may be logged: no URL credentials, no target URL's path or query. */
const safeText = (text: string): string => maskHttpUrls(maskUrlCredentials(text));

export function serializeError(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return safeText(value);
  if (value === null || typeof value !== 'object') return value;
  const error = value as Record<string, unknown>;
  const serialized: Record<string, unknown> = {
    type: (value as { constructor?: { name?: string } }).constructor?.name ?? 'Object',
    message: safeText(String(error.message ?? '')),
  };
  if (typeof error.stack === 'string') serialized.stack = safeText(error.stack);
  for (const field of SAFE_ERROR_FIELDS) {
    const fieldValue = error[field];
    if (typeof fieldValue === 'number') serialized[field] = fieldValue;
    else if (typeof fieldValue === 'string') serialized[field] = safeText(fieldValue);
  }
  const command = error.command as { name?: unknown } | undefined;
  if (typeof command?.name === 'string') serialized.command = command.name;
  if (depth < MAX_ERROR_DEPTH) {
    if (error.cause !== undefined) serialized.cause = serializeError(error.cause, depth + 1);
    if (Array.isArray(error.errors)) serialized.errors = error.errors.slice(0, 10).map((inner) => serializeError(inner, depth + 1));
  }
  return serialized;
}

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
  // Asynchronous writes: a synchronous write per callback costs the receiver CPU it needs. pino
  // flushes what is buffered when the process exits; only a SIGKILL can lose the last lines.
  const destination = format === 'pretty' ? prettyDestination() : pino.destination({ dest: 1, sync: false });
  return pino({
    level,
    base: { service: 'zego-relay' },
    serializers: { err: serializeError, error: serializeError },
    // A safety net: no log call passes these. Exact paths only; leading wildcards make pino walk
    // every logged object, a cost paid on every line.
    redact: {
      paths: ['secret', 'signature', 'password', 'headers.authorization'],
      censor: '[redacted]',
    },
  }, destination);
}

/** A logger that writes nothing, for tests and library use. */
export const silentLogger: Logger = pino({ level: 'silent' });
