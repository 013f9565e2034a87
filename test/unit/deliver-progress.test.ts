/**
 * A delivery's own record of its attempts (workers/deliver/progress.ts), kept in the job's data: which
 * attempt comes next, what a failed attempt and a dead letter write, and the dead-letter error.
 */
import { UnrecoverableError } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { afterFailedAttempt, asDeadLetter, DeadLetterError, nextAttempt, type TrackedDeliveryData } from '../../workers/deliver/progress.js';

const fresh: TrackedDeliveryData = { callbackId: 'cb_1', event: 'mix_stop', appId: '1', body: '{}', receivedAt: 1 };

describe('nextAttempt', () => {
  it.each([
    ['a job the router has just queued: 1', fresh, 1],
    ['after attempt 1 failed: 2', { ...fresh, attempts: 1 }, 2],
    ['after attempt 4 failed: 5', { ...fresh, attempts: 4 }, 5],
    ['a dead letter put back (Bull Board, replay): 1', { ...fresh, attempts: 10, deadLettered: true }, 1],
    ['a dead letter that never got an attempt counted: 1', { ...fresh, deadLettered: true }, 1],
    ['a job marked not dead-lettered: the count goes on', { ...fresh, attempts: 3, deadLettered: false }, 4],
  ] as const)('%s', (_name, data, expected) => {
    expect(nextAttempt(data)).toBe(expected);
  });
});

describe('the data written after an attempt', () => {
  it('after a failed attempt: the count, and a put-back dead letter mark cleared', () => {
    expect(afterFailedAttempt(fresh, 1)).toEqual({ ...fresh, attempts: 1 });
    expect(afterFailedAttempt({ ...fresh, attempts: 10, deadLettered: true }, 1)).toEqual({ ...fresh, attempts: 1 });
    expect('deadLettered' in afterFailedAttempt({ ...fresh, deadLettered: true }, 1)).toBe(false);
  });

  it('a dead letter: the mark, with its last attempt when known, and nothing else changed', () => {
    expect(asDeadLetter(fresh, 3)).toEqual({ ...fresh, attempts: 3, deadLettered: true });
    expect(asDeadLetter({ ...fresh, attempts: 2 })).toEqual({ ...fresh, attempts: 2, deadLettered: true });
    expect('attempts' in asDeadLetter(fresh)).toBe(false);
    // The next run of it starts afresh.
    expect(nextAttempt(asDeadLetter({ ...fresh, attempts: 9 }, 10))).toBe(1);
  });

  it('never changes the data it is given', () => {
    const data: TrackedDeliveryData = { ...fresh, attempts: 2, deadLettered: true };
    const before = structuredClone(data);
    afterFailedAttempt(data, 3);
    asDeadLetter(data, 3);
    expect(data).toEqual(before);
  });
});

describe('DeadLetterError', () => {
  it("is BullMQ's UnrecoverableError (failed at once), told apart by its own class and name", () => {
    const error = new DeadLetterError('HTTP 410');
    expect(error).toBeInstanceOf(UnrecoverableError);
    expect(error).toBeInstanceOf(DeadLetterError);
    expect(new UnrecoverableError('stalled')).not.toBeInstanceOf(DeadLetterError);
    expect([error.name, error.message]).toEqual(['DeadLetterError', 'HTTP 410']);
  });
});
