import { describe, expect, it } from 'vitest';
import { parseRetryAfter, retryDelay } from '../../workers/deliver/backoff.js';

const schedule = [5_000, 300_000, 1_800_000];
/** random() = 0.5 puts the delay exactly on the step; 0 and ~1 on the jitter bounds. */
const middle = () => 0.5;
const lowest = () => 0;
const highest = () => 0.999999;

describe('retryDelay', () => {
  it.each([
    // retryNumber, jitter, random, retryAfterMs, expected
    [1, 0.2, middle, undefined, 5_000],
    [2, 0.2, middle, undefined, 300_000],
    [3, 0.2, middle, undefined, 1_800_000],
    [1, 0.2, lowest, undefined, 4_000],
    [1, 0.2, highest, undefined, 6_000],
    [2, 0, highest, undefined, 300_000],
    // beyond the schedule (it was shortened after the job was stored): the last step
    [7, 0, middle, undefined, 1_800_000],
    // Retry-After longer than the step: honoured
    [1, 0, middle, 60_000, 60_000],
    // Retry-After shorter than the step: the schedule wins (it is a floor, not a shortcut)
    [2, 0, middle, 1_000, 300_000],
    // Retry-After beyond the largest step: capped there
    [1, 0, middle, 31_536_000_000, 1_800_000],
    // Retry-After of 0 changes nothing
    [1, 0.2, lowest, 0, 4_000],
    // Each row's title must be unique (the mutation run tells tests apart by title): random is shown by its source.
  ] as const)('retry %d, jitter %d, random %s, Retry-After %s -> %d ms', (retryNumber, jitter, random, retryAfterMs, expected) => {
    expect(retryDelay({ retryNumber, schedule, jitter, random, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) })).toBe(expected);
  });

  it('keeps every delay within the jitter bounds of its step', () => {
    for (let i = 0; i < 1000; i += 1) {
      const delay = retryDelay({ retryNumber: 2, schedule, jitter: 0.1, random: Math.random });
      expect(delay).toBeGreaterThanOrEqual(270_000);
      expect(delay).toBeLessThanOrEqual(330_000);
    }
  });

  it('is 0 for an empty schedule (no retries are planned)', () => {
    expect(retryDelay({ retryNumber: 1, schedule: [], jitter: 0.2, random: middle })).toBe(0);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');

  it.each([
    ['120', 120_000],
    [' 0 ', 0],
    ['Wed, 01 Jan 2025 00:00:30 GMT', 30_000],
    ['Tue, 31 Dec 2024 23:59:00 GMT', 0],
    [['7', '9'], 7_000],
  ] as const)('reads %j as %d ms', (value, ms) => expect(parseRetryAfter(value as string | string[], now)).toBe(ms));

  it.each([undefined, '', '-5', '1.5', 'soon', 'Mon, 99 Foo 2025'])('ignores %j', (value) => {
    expect(parseRetryAfter(value, now)).toBeUndefined();
  });
});
