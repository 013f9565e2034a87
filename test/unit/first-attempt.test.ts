/**
 * The router's first attempts, as pure decisions: the job an attempt still running at the deadline
 * is handed to (workers/deliver/first-attempt.ts; what follows an answer is in test/unit/deliver-decision.test.ts),
 * a target's health as one router sees it (workers/route/first-attempt-health.ts), and the slots that keep
 * first attempts within a target's concurrency (workers/route/target-lanes.ts).
 */
import { describe, expect, it } from 'vitest';
import { handoffDelay, HANDOFF_MARGIN_MS } from '../../workers/deliver/first-attempt.js';
import { FIRST_PAUSE_MS, FirstAttemptHealth, MAX_PAUSE_MS, STOP_AFTER } from '../../workers/route/first-attempt-health.js';
import { AttemptSlots } from '../../workers/route/target-lanes.js';

const retry = { schedule: [5_000, 300_000], jitter: 0.2 };
const middle = () => 0.5;

describe('handoffDelay', () => {
  it('waits until the attempt must have ended, then retry 1', () => {
    expect(handoffDelay({ elapsedMs: 1_000, timeoutMs: 15_000, retry, random: middle })).toBe(14_000 + 5_000 + HANDOFF_MARGIN_MS);
  });

  it('counts no time left once the timeout has passed', () => {
    expect(handoffDelay({ elapsedMs: 20_000, timeoutMs: 15_000, retry, random: middle })).toBe(5_000 + HANDOFF_MARGIN_MS);
  });

  it('with no retry planned, only waits for the attempt', () => {
    expect(handoffDelay({ elapsedMs: 0, timeoutMs: 2_000, retry: { schedule: [], jitter: 0 }, random: middle })).toBe(2_000 + HANDOFF_MARGIN_MS);
  });
});

describe('FirstAttemptHealth', () => {
  const clock = () => {
    let now = 0;
    return { now: () => now, advance: (ms: number) => (now += ms) };
  };

  it('lets first attempts go while the target answers, and after a single failure', () => {
    const health = new FirstAttemptHealth();
    for (let i = 0; i < 10; i += 1) expect(health.ended('ok', false)).toBe(false);
    health.ended('failed', false);
    expect(health.next()).toBe('attempt');
  });

  it(`stops them after ${STOP_AFTER} failed or late ones in a row, then probes once the pause is over`, () => {
    const time = clock();
    const health = new FirstAttemptHealth(time.now);
    expect(health.ended('failed', false)).toBe(false);
    expect(health.ended('late', false)).toBe(false);
    expect(health.ended('failed', false)).toBe(true);
    expect(health.stopped).toBe(true);
    expect(health.next()).toBe('skip');
    time.advance(FIRST_PAUSE_MS);
    expect(health.next()).toBe('probe');
    // One probe at a time.
    expect(health.next()).toBe('skip');
    expect(health.ended('ok', true)).toBe(true);
    expect(health.stopped).toBe(false);
    expect(health.next()).toBe('attempt');
  });

  it('doubles the pause after each failed probe, up to the most', () => {
    const time = clock();
    const health = new FirstAttemptHealth(time.now);
    for (let i = 0; i < STOP_AFTER; i += 1) health.ended('late', false);
    const pauses: number[] = [];
    for (let probe = 0; probe < 8; probe += 1) {
      let waited = 0;
      while (health.next() !== 'probe') {
        time.advance(100);
        waited += 100;
      }
      pauses.push(waited);
      health.ended('late', true);
    }
    expect(pauses).toEqual([1_000, 1_000, 2_000, 4_000, 8_000, 16_000, MAX_PAUSE_MS, MAX_PAUSE_MS]);
  });

  it('hands out a probe again when the last one could not be made', () => {
    const time = clock();
    const health = new FirstAttemptHealth(time.now);
    for (let i = 0; i < STOP_AFTER; i += 1) health.ended('failed', false);
    time.advance(FIRST_PAUSE_MS);
    expect(health.next()).toBe('probe');
    health.probeNotMade();
    expect(health.next()).toBe('probe');
  });
});

describe('AttemptSlots', () => {
  const tick = () => new Promise((resolve) => setImmediate(resolve));

  it('runs at most its capacity at once, the waiting ones in their order as slots come back', async () => {
    const slots = new AttemptSlots(2);
    const ran: number[] = [];
    for (let i = 0; i < 5; i += 1) slots.take(() => ran.push(i));
    expect(ran).toEqual([0, 1]);
    slots.release();
    await tick();
    expect(ran).toEqual([0, 1, 2]);
    slots.release();
    slots.release();
    await tick();
    expect(ran).toEqual([0, 1, 2, 3, 4]);
  });

  it('never runs a cancelled turn, and gives its slot to the next', async () => {
    const slots = new AttemptSlots(1);
    const ran: string[] = [];
    slots.take(() => ran.push('first'));
    const second = slots.take(() => ran.push('second'));
    slots.take(() => ran.push('third'));
    expect(second.cancel()).toBe(true);
    expect(second.cancel()).toBe(false);
    slots.release();
    await tick();
    expect(ran).toEqual(['first', 'third']);
    expect(slots.tryAcquire()).toBe(false);
  });

  it('cannot cancel a turn that already ran', () => {
    const slots = new AttemptSlots(1);
    const turn = slots.take(() => {});
    expect(turn.cancel()).toBe(false);
  });
});
