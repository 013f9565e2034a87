/**
 * A ZEGO-like sender for the chaos test. Like ZEGO (README.md, first paragraph): a try without a 2xx is
 * retried at most 5 times, 2, 4, 8, 16 and 32 s (times `retryScale`) after the previous one, each
 * retry with a fresh timestamp, nonce and signature; after the 5th failure the callback is given
 * up. On top, some callbacks that were already acknowledged are sent again later, either as a new
 * signed try or as the exact bytes of the acknowledged one. Every try is recorded (body bytes,
 * answer), so the test can check what the targets received against what was sent.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ZEGO_RETRY_DELAYS_MS } from '../../src/cli/simulate.js';
import { callbackFields, signedBody } from '../../src/cli/simulate-callbacks.js';

export type Answer = number | 'timeout' | 'error';

export interface Try {
  readonly body: string;
  readonly answer: Answer;
  /** The callback id of a 200 answer. */
  readonly id?: string;
  readonly duplicate?: boolean;
  /** Part of a deliberate re-send of an acknowledged callback, not of the first delivery. */
  readonly resend: boolean;
  /** Date.now() when the answer (or its absence) was known. */
  readonly at?: number;
  /** How long the answer took (ms). */
  readonly ms?: number;
  /** The answer said `spooled: true`. */
  readonly spooled?: boolean;
}

export interface SentCallback {
  /** The callback's task_id: unique per callback, read back from what targets receive. */
  readonly key: string;
  readonly event: string;
  readonly tries: Try[];
  /** The id of the first 200 answer; undefined when the sender never saw one. */
  acknowledgedId?: string;
}

export interface SenderOptions {
  url: string;
  appId: string;
  secret: string;
  /** Events of callback 0, 1, 2, ... in turn (mix_start and mix_stop: task_id is the key). */
  events: readonly string[];
  /** Multiplies ZEGO's retry delays. @defaultValue 0.1 */
  retryScale?: number;
  /** How long a try waits for its answer. @defaultValue 2000 */
  timeoutMs?: number;
  /** Share of acknowledged callbacks sent again later. @defaultValue 0.1 */
  resendRatio?: number;
  /** Of those, the share re-sent as the exact bytes of the acknowledged try. @defaultValue 0.3 */
  identicalResendRatio?: number;
  /** A re-send goes out this long (ms, uniformly random up to) after the acknowledgement. @defaultValue 3000 */
  resendWithinMs?: number;
}

/** The task_id of a delivered body, or undefined when it is not one of ours. */
export function callbackKey(body: Buffer | string): string | undefined {
  try {
    const parsed = JSON.parse(body.toString()) as { task_id?: unknown };
    return typeof parsed.task_id === 'string' ? parsed.task_id : undefined;
  } catch {
    return undefined;
  }
}

export class ZegoSender {
  readonly callbacks = new Map<string, SentCallback>();
  private readonly runId = Math.random().toString(36).slice(2, 10);
  private readonly settings: Required<SenderOptions>;

  constructor(options: SenderOptions) {
    this.settings = { retryScale: 0.1, timeoutMs: 2_000, resendRatio: 0.1, identicalResendRatio: 0.3, resendWithinMs: 3_000, ...options };
  }

  /** Sends `count` callbacks, `perSecond` new ones a second; resolves once every try (re-sends too) is answered or given up. */
  async run(count: number, perSecond: number): Promise<void> {
    const started = Date.now();
    const all: Promise<void>[] = [];
    for (let index = 0; index < count; index += 1) {
      const due = started + (index * 1000) / perSecond;
      if (due > Date.now()) await sleep(due - Date.now());
      all.push(this.deliver(index));
    }
    await Promise.all(all);
  }

  /** Counts of answers over every try. */
  answers(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const sent of this.callbacks.values()) {
      for (const attempt of sent.tries) counts.set(String(attempt.answer), (counts.get(String(attempt.answer)) ?? 0) + 1);
    }
    return counts;
  }

  private async deliver(index: number): Promise<void> {
    const { events, appId, secret } = this.settings;
    const event = events[index % events.length]!;
    const fields = callbackFields(event, appId, this.runId, index);
    const sent: SentCallback = { key: String(fields.task_id), event, tries: [] };
    this.callbacks.set(sent.key, sent);

    const acknowledged = await this.withZegoRetries(sent, () => signedBody(fields, secret), false);
    if (!acknowledged || Math.random() >= this.settings.resendRatio) return;
    await sleep(Math.random() * this.settings.resendWithinMs);
    if (Math.random() < this.settings.identicalResendRatio) await this.withZegoRetries(sent, () => acknowledged.body, true);
    else await this.withZegoRetries(sent, () => signedBody(fields, secret), true);
  }

  /** The first try and up to 5 retries; resolves with the acknowledged try, if any. */
  private async withZegoRetries(sent: SentCallback, nextBody: () => string, resend: boolean): Promise<Try | undefined> {
    for (let retry = 0; retry <= ZEGO_RETRY_DELAYS_MS.length; retry += 1) {
      if (retry > 0) await sleep(ZEGO_RETRY_DELAYS_MS[retry - 1]! * this.settings.retryScale);
      const attempt = await this.tryOnce(nextBody(), resend);
      sent.tries.push(attempt);
      if (attempt.answer === 200) {
        sent.acknowledgedId ??= attempt.id;
        return attempt;
      }
      // Any other 2xx would be success too, but the relay only ever answers 200.
    }
    return undefined;
  }

  private async tryOnce(body: string, resend: boolean): Promise<Try> {
    const started = Date.now();
    try {
      const response = await fetch(this.settings.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(this.settings.timeoutMs),
      });
      const answer = (await response.json().catch(() => ({}))) as { id?: string; duplicate?: boolean; spooled?: boolean };
      const at = Date.now();
      return response.status === 200
        ? { body, answer: 200, resend, at, ms: at - started, ...(answer.id ? { id: answer.id } : {}), duplicate: answer.duplicate === true, spooled: answer.spooled === true }
        : { body, answer: response.status, resend, at, ms: at - started };
    } catch (error) {
      return { body, answer: (error as Error).name === 'TimeoutError' ? 'timeout' : 'error', resend, at: Date.now() };
    }
  }
}
