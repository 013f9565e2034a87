/**
 * What a target's answer means (workers/deliver/outcome.ts), as one table: delivered or not,
 * retried or not, the delay it asked for, and the words the failed reason shows to an operator.
 */
import { describe, expect, it } from 'vitest';
import { answerError, isDelivered, networkError } from '../../workers/deliver/outcome.js';
import { DeliveryError } from '../../src/errors.js';

const NOW = Date.parse('2025-01-01T00:00:00Z');

describe('isDelivered', () => {
  it.each([
    [199, false], [200, true], [204, true], [299, true], [300, false], [410, false],
  ])('%i -> %s', (status, delivered) => expect(isDelivered(status)).toBe(delivered));
});

describe('answerError', () => {
  it.each([
    // status, statusMessage, headers, message, retryable, retryAfterMs
    [200, 'OK', {}, undefined, undefined, undefined],
    [299, undefined, {}, undefined, undefined, undefined],
    [199, undefined, {}, 'target answered 199', true, undefined],
    [410, 'Gone', {}, 'target answered 410 Gone (gone: not retried)', false, undefined],
    [429, 'Too Many Requests', { retryAfter: '2' }, 'target answered 429 Too Many Requests (Retry-After 2s)', true, 2_000],
    [503, undefined, { retryAfter: 'Wed, 01 Jan 2025 00:01:00 GMT' }, 'target answered 503 (Retry-After 60s)', true, 60_000],
    [503, 'Service Unavailable', {}, 'target answered 503 Service Unavailable', true, undefined],
    [429, undefined, { retryAfter: 'soon' }, 'target answered 429', true, undefined],
    [300, undefined, { location: 'http://x/' }, 'target answered 300: redirect to http://x/ not followed', true, undefined],
    [302, 'Found', {}, 'target answered 302 Found: redirect to (no location) not followed', true, undefined],
    [399, undefined, { location: '/y' }, 'target answered 399: redirect to /y not followed', true, undefined],
    [301, undefined, { location: '/hooks/TOKEN' }, 'target answered 301: redirect to /hooks/*** not followed', true, undefined],
    [307, undefined, { location: '/hooks?token=TOKEN' }, 'target answered 307: redirect to /hooks/*** not followed', true, undefined],
    [308, undefined, { location: 'hooks#TOKEN' }, 'target answered 308: redirect to /hooks/*** not followed', true, undefined],
    [302, undefined, { location: 'hooks/TOKEN' }, 'target answered 302: redirect to /hooks/*** not followed', true, undefined],
    [303, undefined, { location: '/hooks/a:TOKEN' }, 'target answered 303: redirect to /hooks/*** not followed', true, undefined],
    [400, 'Bad Request', { location: '/z' }, 'target answered 400 Bad Request', true, undefined],
    [500, 'Internal Server Error', { retryAfter: '5' }, 'target answered 500 Internal Server Error', true, undefined],
  ] as const)('%i %s %j -> %s, retryable %s, Retry-After %s ms', (status, statusMessage, extra, message, retryable, retryAfterMs) => {
    const error = answerError({ status, ...(statusMessage ? { statusMessage } : {}), ...extra }, NOW);
    if (message === undefined) {
      expect(error).toBeUndefined();
      return;
    }
    expect(error).toBeInstanceOf(DeliveryError);
    expect(error).toMatchObject({ message, retryable, status });
    expect(error!.retryAfterMs).toBe(retryAfterMs);
  });
});

describe('networkError', () => {
  it.each([
    ['a got timeout', Object.assign(new Error('Timeout awaiting request'), { name: 'TimeoutError', code: 'ETIMEDOUT' }), 'no answer within 1500 ms (timeout)'],
    ['ETIMEDOUT alone', Object.assign(new Error('x'), { code: 'ETIMEDOUT' }), 'no answer within 1500 ms (timeout)'],
    ['a TimeoutError without a code', Object.assign(new Error('x'), { name: 'TimeoutError' }), 'no answer within 1500 ms (timeout)'],
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }), 'request failed (ECONNREFUSED): connect ECONNREFUSED 127.0.0.1:9'],
    ['an error without a code', new Error('socket hang up'), 'request failed: socket hang up'],
    ['something thrown that is not an Error', 'odd', 'request failed: odd'],
  ] as const)('%s', (_name, thrown, message) => {
    const error = networkError(thrown, 1_500);
    expect(error).toMatchObject({ message, retryable: true });
    expect(error.status).toBeUndefined();
  });
});
