/**
 * How refusals are answered and summarised, without a server: the error middleware's answers and
 * log line, and the once-a-minute digest of refused requests (fake clock).
 */
import type { Context } from 'koa';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HttpError, UnavailableError } from '../../src/errors.js';
import type { Logger } from '../../src/lib/logger.js';
import { errorMiddleware } from '../../src/http/error-middleware.js';
import { RejectionDigest } from '../../src/rejected/digest.js';

/** A logger that records the calls the code under test makes. */
function recordingLogger() {
  const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  const record = (level: string) => (fields: Record<string, unknown>, message: string) => lines.push({ level, fields, message });
  return { logger: { warn: record('warn'), error: record('error') } as unknown as Logger, lines };
}

async function answer(thrown: unknown) {
  const { logger, lines } = recordingLogger();
  const ctx = { method: 'POST', path: '/zego/callback', status: 404, body: undefined as unknown } as Context;
  await errorMiddleware(logger)(ctx, async () => {
    throw thrown;
  });
  return { status: ctx.status, body: ctx.body, lines };
}

describe('the error middleware', () => {
  it('answers an HttpError with its status, code and message, and logs nothing', async () => {
    expect(await answer(new HttpError(401, 'bad_signature', 'the signature does not match'))).toEqual({
      status: 401, body: { ok: false, error: { code: 'bad_signature', message: 'the signature does not match' } }, lines: [],
    });
  });

  it('shows the message of a 503 unavailable', async () => {
    const { status, body } = await answer(new UnavailableError());
    expect(status).toBe(503);
    expect(body).toEqual({ ok: false, error: { code: 'unavailable', message: 'the relay cannot reach its store right now; retry later' } });
  });

  it('hides the message of an HttpError that must not be shown, behind its status\'s generic message', async () => {
    expect((await answer(new HttpError(503, 'unavailable', 'redis at 10.0.0.5 refused'))).body)
      .toEqual({ ok: false, error: { code: 'unavailable', message: 'the relay cannot store callbacks right now; retry later' } });
    expect((await answer(new HttpError(502, 'upstream', 'secret detail'))).body)
      .toEqual({ ok: false, error: { code: 'upstream', message: 'request failed' } });
  });

  it('answers anything else 500 internal_error with a generic message, and logs the error', async () => {
    const bug = new TypeError('secret internals');
    const { status, body, lines } = await answer(bug);
    expect(status).toBe(500);
    expect(body).toEqual({ ok: false, error: { code: 'internal_error', message: 'internal error' } });
    expect(lines).toEqual([{ level: 'error', fields: { err: bug, method: 'POST', path: '/zego/callback' }, message: 'unexpected error while answering a request' }]);
  });
});

describe('the digest of refused requests', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('logs the first refusal at once, then at most one summary a minute with the count and the top reason', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const { logger, lines } = recordingLogger();
    const digest = new RejectionDigest({ logger });
    digest.add('bad_signature');
    expect(lines).toEqual([{
      level: 'warn',
      fields: { rejected: 1, topReason: 'bad_signature', reasons: { bad_signature: 1 } },
      message: '1 request on the callback path rejected (mostly bad_signature); the latest are listed by GET /admin/api/rejected and zego-relay rejected',
    }]);
    vi.advanceTimersByTime(10_000);
    digest.add('invalid_payload');
    digest.add('stale_timestamp');
    digest.add('stale_timestamp');
    expect(lines).toHaveLength(1);
    // The summary comes a minute after the first warning, not a minute after the latest refusal.
    vi.advanceTimersByTime(49_999);
    expect(lines).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(lines[1]).toEqual({
      level: 'warn',
      fields: { rejected: 3, topReason: 'stale_timestamp', reasons: { invalid_payload: 1, stale_timestamp: 2 } },
      message: '3 requests on the callback path rejected (mostly stale_timestamp); the latest are listed by GET /admin/api/rejected and zego-relay rejected',
    });
    // Quiet for more than a minute: the next refusal is logged at once again.
    vi.advanceTimersByTime(60_000);
    expect(lines).toHaveLength(2);
    digest.add('unknown_app');
    expect(lines).toHaveLength(3);
    expect(lines[2]!.fields).toEqual({ rejected: 1, topReason: 'unknown_app', reasons: { unknown_app: 1 } });
  });

  it('keeps the first reason as the top one on a tie, honours intervalMs and now, and flushes only what is pending', () => {
    vi.useFakeTimers({ now: 0 });
    let now = 5_000;
    const { logger, lines } = recordingLogger();
    const digest = new RejectionDigest({ logger, intervalMs: 1_000, now: () => now });
    digest.add('a');
    now = 5_500;
    digest.add('b');
    digest.add('c');
    expect(lines).toHaveLength(1);
    digest.flush();
    expect(lines[1]!.fields).toEqual({ rejected: 2, topReason: 'b', reasons: { b: 1, c: 1 } });
    digest.flush();
    expect(lines).toHaveLength(2);
    // The timer set before the flush was cleared: nothing more is logged.
    vi.advanceTimersByTime(5_000);
    expect(lines).toHaveLength(2);
    // Exactly intervalMs after the last warning counts as a quiet minute.
    now = 6_500;
    digest.add('d');
    expect(lines).toHaveLength(3);
  });
});
