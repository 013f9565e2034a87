/**
 * What becomes of a delivery after an attempt (workers/deliver/decision.ts): the one table both the worker
 * and the router's first attempts decide by.
 */
import { describe, expect, it } from 'vitest';
import { DeliveryError } from '../../src/errors.js';
import { countsForBreaker, decideDelivery } from '../../workers/deliver/decision.js';

const schedule = [5_000, 300_000];
const middle = () => 0.5;
const failed = (status: number, retryAfterMs?: number) => ({ status, error: new DeliveryError(`target answered ${status}`, status !== 410, status, retryAfterMs) });
const noAnswer = { error: new DeliveryError('no answer within 2000 ms (timeout)', true) };
const ok = { status: 200 };

describe('decideDelivery', () => {
  it.each([
    // Each row's title must be unique (the mutation run tells tests apart by title).
    // title, result, attempt, breaker verdict, schedule, shutting down, expected
    ['a 2xx on attempt 1: delivered', ok, 1, undefined, schedule, false, { kind: 'delivered' }],
    ['a 2xx on the last attempt: delivered', ok, 3, undefined, schedule, false, { kind: 'delivered' }],
    ['a 2xx while shutting down: still delivered', ok, 1, undefined, schedule, true, { kind: 'delivered' }],
    ['a 500 on attempt 1: retry 1', failed(500), 1, 'spent', schedule, false, { kind: 'retry', delayMs: 5_000 }],
    ['a 500 on attempt 2: retry 2', failed(500), 2, 'spent', schedule, false, { kind: 'retry', delayMs: 300_000 }],
    ['a 500 on the last attempt: dead', failed(500), 3, 'spent', schedule, false, { kind: 'dead', reason: 'target answered 500' }],
    ['a 500 past the schedule (it was shortened): dead', failed(500), 7, 'spent', schedule, false, { kind: 'dead', reason: 'target answered 500' }],
    ['no answer on attempt 1: retry 1', noAnswer, 1, 'spent', schedule, false, { kind: 'retry', delayMs: 5_000 }],
    ['a 500 without a breaker: retry', failed(500), 1, undefined, schedule, false, { kind: 'retry', delayMs: 5_000 }],
    ['a 503 asking 60 s: Retry-After honoured', failed(503, 60_000), 1, 'spent', schedule, false, { kind: 'retry', delayMs: 60_000 }],
    ['a 429 asking 1 s: the schedule is the floor', failed(429, 1_000), 1, 'spent', schedule, false, { kind: 'retry', delayMs: 5_000 }],
    ['a 410 on attempt 1: dead at once', failed(410), 1, undefined, schedule, false, { kind: 'dead', reason: 'target answered 410' }],
    ['a 410 while the breaker is open: dead, the breaker is not asked', failed(410), 1, 'held', schedule, false, { kind: 'dead', reason: 'target answered 410' }],
    ['a 500 with no retry planned: dead on attempt 1', failed(500), 1, 'spent', [], false, { kind: 'dead', reason: 'target answered 500' }],
    ['a 500 while the breaker is open: held, not spent', failed(500), 1, 'held', schedule, false, { kind: 'held', opened: false }],
    ['the 500 that opened the breaker: held, opened', failed(500), 2, 'opened', schedule, false, { kind: 'held', opened: true }],
    ['held wins over an empty schedule', failed(500), 1, 'held', [], false, { kind: 'held', opened: false }],
    ['held wins over the last attempt', failed(500), 3, 'held', schedule, false, { kind: 'held', opened: false }],
    ['no answer while shutting down: interrupted', noAnswer, 2, undefined, schedule, true, { kind: 'interrupted' }],
    ['no answer on the last attempt while shutting down: interrupted, not dead', noAnswer, 3, undefined, schedule, true, { kind: 'interrupted' }],
    ['a 500 while shutting down: the target answered, so a retry', failed(500), 1, 'spent', schedule, true, { kind: 'retry', delayMs: 5_000 }],
    ['a 410 while shutting down: the target answered, so dead', failed(410), 1, undefined, schedule, true, { kind: 'dead', reason: 'target answered 410' }],
  ] as const)('%s', (_title, result, attempt, breaker, retrySchedule, shuttingDown, expected) => {
    expect(decideDelivery({ result, attempt, breaker, retry: { schedule: retrySchedule, jitter: 0.2 }, shuttingDown, random: middle })).toEqual(expected);
  });

  it('is not interrupted unless told the shutdown is under way', () => {
    expect(decideDelivery({ result: noAnswer, attempt: 1, retry: { schedule, jitter: 0 }, random: middle })).toEqual({ kind: 'retry', delayMs: 5_000 });
  });

  it('spreads the retry by the jitter', () => {
    const retry = { schedule, jitter: 0.2 };
    expect(decideDelivery({ result: failed(500), attempt: 1, retry, random: () => 0 })).toEqual({ kind: 'retry', delayMs: 4_000 });
    expect(decideDelivery({ result: failed(500), attempt: 1, retry, random: () => 0.999999 })).toEqual({ kind: 'retry', delayMs: 6_000 });
  });
});

describe('countsForBreaker', () => {
  it.each([
    ['a 2xx is not a failure', ok, false, false],
    ['a 410 says nothing about health', failed(410), false, false],
    ['a 500 counts', failed(500), false, true],
    ['no answer counts', noAnswer, false, true],
    ['no answer cut by our shutdown does not count', noAnswer, true, false],
    ['a 500 during our shutdown still counts', failed(500), true, true],
  ] as const)('%s', (_title, result, shuttingDown, expected) => {
    expect(countsForBreaker(result, shuttingDown)).toBe(expected);
  });

  it('counts no answer when the shutdown is not mentioned', () => {
    expect(countsForBreaker(noAnswer)).toBe(true);
  });
});
