/**
 * `zego-relay simulate`: sends correctly signed callbacks the way ZEGO does and reports what
 * happened. Like ZEGO, a try that gets no 2xx is retried at most 5 times, 2, 4, 8, 16 and 32 s
 * after the previous try, each retry with a fresh timestamp, nonce and signature (ZEGO does not
 * document whether it reuses them; fresh ones are the harder case for the relay's nonce check).
 * Progress goes to stderr, the summary to stdout. Exit 1 when any callback was never acknowledged.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { got } from 'got';
import { parseDuration } from '../config/units.js';
import { parseOptions, positiveInteger, say, UsageError, type Command, type CommandIo } from './command.js';
import { ExitCode } from '../process/exit-code.js';
import { formatMs, percentile } from './latency.js';
import { callbackFields, signedBody, SIMULATED_EVENTS } from './simulate-callbacks.js';

/** ZEGO's retry delays after a failed try (README.md, first paragraph): at most 5 retries, about 62 s in all. */
export const ZEGO_RETRY_DELAYS_MS = [2_000, 4_000, 8_000, 16_000, 32_000] as const;

const help = `Usage: zego-relay simulate --url URL --app-id ID [--secret-file FILE] [options]

Sends correctly signed ZEGO callbacks to URL the way ZEGO does: JSON bodies with unique
identity fields, a fresh timestamp/nonce/signature on every try, and ZEGO's retry schedule
(5 retries, 2 s, 4 s, 8 s, 16 s, 32 s after the previous try) when a try gets no 2xx.
Shows progress on stderr and ends with a summary on stdout.

The app's callback secret comes from ZEGO_CALLBACK_SECRET, or from --secret-file. (--secret
SECRET works too, but anyone on the machine who lists processes can read it there.)

Options:
  --url URL            the relay's callback URL, e.g. http://127.0.0.1:8080/zego/callback
  --app-id ID          a ZEGO app id configured in the relay (zego.apps[].appId)
  --secret-file FILE   read that app's callback secret from FILE (a trailing line break is ignored)
                       (default: the environment variable ZEGO_CALLBACK_SECRET)
  --secret SECRET      the secret itself, visible in the process list: prefer the two above
  --event NAME         event to send (default mix_stop; known: ${SIMULATED_EVENTS.join(', ')};
                       other names get a generic body)
  --count N            callbacks to send (default 1)
  --concurrency C      callbacks in flight at once (default 10)
  --timeout DURATION   wait this long for each answer (default 5s)
  -h, --help           this text

Example (the development config of npm start):
  ZEGO_CALLBACK_SECRET=zego-relay-dev-secret npx zego-relay simulate \\
    --url http://127.0.0.1:8080/zego/callback --app-id 111111 --count 20

Exit codes: 0 every callback acknowledged (2xx), 1 some never were, 2 usage error.`;

interface SimulateOptions {
  readonly url: string;
  readonly appId: string;
  readonly secret: string;
  readonly event: string;
  readonly count: number;
  readonly concurrency: number;
  readonly timeoutMs: number;
  /** Multiplies ZEGO's retry delays (hidden; tests use a small value). */
  readonly retryScale: number;
}

/** What happened to the callbacks of one run. */
export interface SimulateTally {
  sent: number;
  acknowledged: number;
  duplicates: number;
  /** Callbacks that needed at least one retry. */
  retriedCallbacks: number;
  /** Retry tries in all. */
  retries: number;
  failed: number;
  /** Answers by status (`timeout`/`error` for none). */
  answers: Map<string, number>;
  /** Milliseconds of every acknowledged try. */
  latenciesMs: number[];
}

export const simulateCommand: Command = {
  name: 'simulate',
  summary: 'send correctly signed callbacks the way ZEGO does (retries included) and report',
  help,
  async run(argv, io) {
    const values = parseOptions('simulate', argv, {
      url: { type: 'string' }, 'app-id': { type: 'string' }, secret: { type: 'string' }, 'secret-file': { type: 'string' }, event: { type: 'string' },
      count: { type: 'string' }, concurrency: { type: 'string' }, timeout: { type: 'string' }, 'retry-scale': { type: 'string' },
    });
    const options = readOptions(values as Record<string, string | undefined>, io);
    const tally = await simulate(options, io);
    say(io.stdout, summary(tally).join('\n'));
    return tally.failed === 0 ? ExitCode.ok : ExitCode.failure;
  },
};

function readOptions(values: Record<string, string | undefined>, io: CommandIo): SimulateOptions {
  for (const required of ['url', 'app-id']) {
    if (!values[required]) throw new UsageError(`--${required} is required (see zego-relay simulate --help)`, 'simulate');
  }
  const secret = callbackSecret(values, io);
  const url = values.url!;
  if (!/^https?:\/\//.test(url)) throw new UsageError(`--url must be an http(s) URL, got "${url}"`, 'simulate');
  const timeoutMs = parseDuration(values.timeout ?? '5s');
  if (timeoutMs === undefined || timeoutMs === 0) throw new UsageError(`--timeout must be a duration like 5s, got "${values.timeout}"`, 'simulate');
  const retryScale = Number(values['retry-scale'] ?? '1');
  if (!Number.isFinite(retryScale) || retryScale < 0) throw new UsageError('--retry-scale must be a number >= 0', 'simulate');
  return {
    url, appId: values['app-id']!, secret, event: values.event ?? 'mix_stop',
    count: positiveInteger('count', values.count, 1, 'simulate'),
    concurrency: positiveInteger('concurrency', values.concurrency, 10, 'simulate'),
    timeoutMs, retryScale,
  };
}

/**
 * The callback secret: `--secret-file`, else `--secret` (with a warning: the process list shows
 * it), else ZEGO_CALLBACK_SECRET. Two sources on the command line are a usage error.
 */
function callbackSecret(values: Record<string, string | undefined>, io: CommandIo): string {
  const file = values['secret-file'];
  if (file !== undefined && values.secret !== undefined) throw new UsageError('give --secret-file or --secret, not both', 'simulate');
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read --secret-file ${file} (${(error as NodeJS.ErrnoException).code ?? String(error)})`, 'simulate');
    }
    const secret = text.replace(/(\r?\n)+$/, '');
    if (secret === '') throw new UsageError(`--secret-file ${file} is empty`, 'simulate');
    return secret;
  }
  if (values.secret) {
    say(io.stderr, 'zego-relay simulate: --secret shows the secret to anyone who lists processes; prefer ZEGO_CALLBACK_SECRET or --secret-file');
    return values.secret;
  }
  const fromEnvironment = io.env.ZEGO_CALLBACK_SECRET;
  if (fromEnvironment) return fromEnvironment;
  throw new UsageError('the callback secret is required: set ZEGO_CALLBACK_SECRET or give --secret-file FILE (see zego-relay simulate --help)', 'simulate');
}

/** Sends `count` callbacks with at most `concurrency` in flight; resolves when each is acknowledged or given up. */
async function simulate(options: SimulateOptions, io: CommandIo): Promise<SimulateTally> {
  const tally: SimulateTally = { sent: 0, acknowledged: 0, duplicates: 0, retriedCallbacks: 0, retries: 0, failed: 0, answers: new Map(), latenciesMs: [] };
  const runId = Math.random().toString(36).slice(2, 10);
  const progress = startProgress(io.stderr, tally, options.count);
  let next = 0;
  const lane = async () => {
    while (next < options.count) {
      const index = next++;
      await sendOne(options, callbackFields(options.event, options.appId, runId, index), tally);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(options.concurrency, options.count) }, lane));
  } finally {
    progress.stop();
  }
  return tally;
}

async function sendOne(options: SimulateOptions, fields: ReturnType<typeof callbackFields>, tally: SimulateTally): Promise<void> {
  tally.sent += 1;
  for (let attempt = 0; attempt <= ZEGO_RETRY_DELAYS_MS.length; attempt += 1) {
    if (attempt > 0) {
      if (attempt === 1) tally.retriedCallbacks += 1;
      tally.retries += 1;
      await sleep(ZEGO_RETRY_DELAYS_MS[attempt - 1]! * options.retryScale);
    }
    const started = performance.now();
    const answer = await tryOnce(options, signedBody(fields, options.secret));
    tally.answers.set(answer.label, (tally.answers.get(answer.label) ?? 0) + 1);
    if (answer.acknowledged) {
      tally.acknowledged += 1;
      tally.latenciesMs.push(performance.now() - started);
      if (answer.duplicate) tally.duplicates += 1;
      return;
    }
  }
  tally.failed += 1;
}

async function tryOnce(options: SimulateOptions, body: string): Promise<{ acknowledged: boolean; duplicate: boolean; label: string }> {
  try {
    const response = await got.post(options.url, {
      body,
      headers: { 'content-type': 'application/json', 'user-agent': 'zego-relay-simulate' },
      throwHttpErrors: false,
      followRedirect: false,
      retry: { limit: 0 },
      timeout: { request: options.timeoutMs },
    });
    const acknowledged = response.statusCode >= 200 && response.statusCode < 300;
    return { acknowledged, duplicate: acknowledged && /"duplicate"\s*:\s*true/.test(response.body), label: String(response.statusCode) };
  } catch (error) {
    const code = (error as { code?: string }).code;
    return { acknowledged: false, duplicate: false, label: code === 'ETIMEDOUT' ? 'timeout' : `error ${code ?? 'unknown'}` };
  }
}

/** A progress line on stderr: rewritten in place on a terminal, one line every 2 s otherwise. */
function startProgress(stream: NodeJS.WritableStream, tally: SimulateTally, total: number): { stop(): void } {
  const tty = (stream as NodeJS.WriteStream).isTTY === true;
  const line = () =>
    `simulate: ${tally.acknowledged + tally.failed}/${total} done · ${tally.acknowledged} acknowledged · ${tally.retries} retries · ${tally.failed} failed`;
  const timer = setInterval(() => stream.write(tty ? `\r${line()}` : `${line()}\n`), tty ? 250 : 2_000);
  return {
    stop() {
      clearInterval(timer);
      stream.write(tty ? `\r${line()}\n` : `${line()}\n`);
    },
  };
}

/** The summary lines printed at the end. */
export function summary(tally: SimulateTally): string[] {
  const answers = [...tally.answers].sort(([a], [b]) => a.localeCompare(b)).map(([label, count]) => `${label}: ${count}`).join(', ');
  return [
    `sent:         ${tally.sent} callbacks`,
    `acknowledged: ${tally.acknowledged}${tally.duplicates ? ` (${tally.duplicates} reported as duplicates)` : ''}`,
    `retried:      ${tally.retriedCallbacks} callbacks (${tally.retries} retries)`,
    `failed:       ${tally.failed} (never acknowledged after ${ZEGO_RETRY_DELAYS_MS.length} retries)`,
    `latency:      p50 ${formatMs(percentile(tally.latenciesMs, 50))}, p99 ${formatMs(percentile(tally.latenciesMs, 99))} (acknowledged tries)`,
    `answers:      ${answers || 'none'}`,
  ];
}
