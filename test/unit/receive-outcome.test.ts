/**
 * The receiver's typed outcome and the one place that books it (receive/book-outcome.ts): which
 * outcome a thrown error makes, the metric's labels, the log line, and what is booked where.
 */
import { describe, expect, it } from 'vitest';
import { HttpError, UnavailableError } from '../../src/errors.js';
import { silentLogger } from '../../src/lib/logger.js';
import { accepted, bookOutcome, outcomeLine, outcomeOfError, receivedLabels, type CallbackOutcome } from '../../src/receive/book-outcome.js';
import { BodyTooLargeError } from '../../src/http/read-body.js';
import type { RejectedRequest } from '../../src/rejected/sample.js';
import { Rejections } from '../../src/rejected/rejections.js';
import { callbacksReceived } from '../../src/shared/metrics.js';
import type { RejectedSample } from '../../src/rejected/log.js';
import { capturingLogger } from '../helpers/log-capture.js';

const sampleOf = (error: HttpError): RejectedRequest => ({ status: error.status, code: error.code, message: error.message, contentType: undefined, body: Buffer.alloc(0), at: 0 });
const redisDown = new Error('connection lost');

describe('outcomeOfError', () => {
  it.each([
    // title, thrown, expected kind, outcome, status
    ['a 400 is refused under its code', new HttpError(400, 'invalid_payload', 'x'), 'refused', 'invalid_payload', 400],
    ['a 401 is refused under its code', new HttpError(401, 'bad_signature', 'x'), 'refused', 'bad_signature', 401],
    ['a 405 is refused under its code', new HttpError(405, 'method_not_allowed', 'x'), 'refused', 'method_not_allowed', 405],
    ['a 413 is refused under its code', new BodyTooLargeError(2048, Buffer.alloc(0), 5000), 'refused', 'payload_too_large', 413],
    ['a 499 is still a refusal', new HttpError(499, 'edge', 'x'), 'refused', 'edge', 499],
    ['a 503 is not stored, under its code', new UnavailableError('down', redisDown), 'failed', 'unavailable', 503],
    ['a 500 HttpError is not stored, under its code', new HttpError(500, 'broken', 'x'), 'failed', 'broken', 500],
    ['anything else is a 500 internal_error', new TypeError('a bug'), 'failed', 'internal_error', 500],
    ['a thrown string is a 500 internal_error', 'not an error', 'failed', 'internal_error', 500],
  ] as const)('%s', (_title, thrown, kind, outcome, status) => {
    const made = outcomeOfError(thrown, sampleOf);
    expect(made).toMatchObject({ kind, outcome, status, error: thrown });
    if (made.kind === 'refused') expect(made.sample).toEqual(sampleOf(thrown as HttpError));
    else expect(made).not.toHaveProperty('sample');
  });

  it('asks for the sample of a refusal only', () => {
    let asked = 0;
    const sample = (error: HttpError) => {
      asked += 1;
      return sampleOf(error);
    };
    outcomeOfError(new UnavailableError(), sample);
    outcomeOfError(new TypeError('bug'), sample);
    expect(asked).toBe(0);
    outcomeOfError(new HttpError(400, 'invalid_body', 'x'), sample);
    expect(asked).toBe(1);
  });
});

describe('receivedLabels', () => {
  it.each([
    ['an authenticated known event keeps its name', accepted('stored'), { authenticated: true, event: 'mix_stop' }, { event: 'mix_stop', outcome: 'stored' }],
    ['an authenticated duplicate', accepted('duplicate'), { authenticated: true, event: 'mix_stop' }, { event: 'mix_stop', outcome: 'duplicate' }],
    ['an authenticated spooled one', accepted('spooled'), { authenticated: true, event: 'mix_stop' }, { event: 'mix_stop', outcome: 'spooled' }],
    ['an authenticated family member gets its family', accepted('stored'), { authenticated: true, event: 'transcode_finished' }, { event: 'transcode_*', outcome: 'stored' }],
    ['an unauthenticated sender is none whatever it named', outcomeOfError(new HttpError(401, 'bad_signature', 'x'), sampleOf), { authenticated: false, event: 'mix_stop' }, { event: 'none', outcome: 'bad_signature' }],
    ['a request that never named an event is none', outcomeOfError(new HttpError(405, 'method_not_allowed', 'x'), sampleOf), { authenticated: false }, { event: 'none', outcome: 'method_not_allowed' }],
  ] as const)('%s', (_title, outcome, seen, expected) => {
    expect(receivedLabels(outcome, seen)).toEqual(expected);
  });
});

describe('outcomeLine', () => {
  it('carries the callback, its outcome and status, and the time rounded to 0.1 ms', () => {
    const seen = { callbackId: 'cb_1', event: 'mix_stop', appId: '1', authenticated: true };
    expect(outcomeLine(accepted('duplicate'), seen, 12.345)).toEqual({ callbackId: 'cb_1', event: 'mix_stop', appId: '1', outcome: 'duplicate', status: 200, ms: 12.3 });
    expect(outcomeLine(outcomeOfError(new UnavailableError(), sampleOf), { authenticated: false }, 0.06)).toEqual({
      callbackId: undefined, event: undefined, appId: undefined, outcome: 'unavailable', status: 503, ms: 0.1,
    });
  });
});

describe('bookOutcome', () => {
  const count = async (event: string, outcome: string) =>
    (await callbacksReceived.get()).values.find((value) => value.labels.event === event && value.labels.outcome === outcome)?.value ?? 0;

  const book = () => {
    const { logger, lines } = capturingLogger('debug');
    const samples: RejectedSample[] = [];
    const rejections = new Rejections({ record: (sample) => samples.push(sample) }, silentLogger);
    return { book: { logger, rejections }, lines, samples };
  };
  const seen = { callbackId: 'cb_2', event: 'mix_stop', appId: '1', authenticated: true };
  const cases: [string, CallbackOutcome, number, string, number][] = [
    // title, outcome, log level, message, samples
    ['an accepted callback: one info line, no sample', accepted('stored'), 30, 'callback accepted', 0],
    ['a refused one: a debug line and a sample', outcomeOfError(new HttpError(401, 'stale_timestamp', 'x'), sampleOf), 20, 'callback rejected', 1],
    ['one not stored: a warning, no sample', outcomeOfError(new UnavailableError('down', redisDown), sampleOf), 40, 'callback not stored', 0],
  ];

  it.each(cases)('%s', async (_title, outcome, level, message, samples) => {
    const target = book();
    const before = await count('mix_stop', outcome.outcome);
    bookOutcome(target.book, outcome, seen, 1);
    expect(await count('mix_stop', outcome.outcome)).toBe(before + 1);
    expect(target.lines).toEqual([expect.objectContaining({ level, msg: message, callbackId: 'cb_2', outcome: outcome.outcome, status: outcome.status, ms: 1 })]);
    expect(target.samples).toHaveLength(samples);
  });

  it('logs the cause of a store failure rather than its wrapper', () => {
    const target = book();
    bookOutcome(target.book, outcomeOfError(new UnavailableError('down', redisDown), sampleOf), seen, 1);
    expect(target.lines[0]?.err?.message).toBe('connection lost');
  });
});
