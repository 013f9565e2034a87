/**
 * A delivery's own record of its attempts, kept in the job's data (BullMQ's public `updateData`)
 * rather than in BullMQ's attempt counter: the worker schedules every retry itself, so the count
 * and the "dead-lettered" mark mean exactly what the relay says they mean, and a dead letter put
 * back by anyone (Bull Board's retry button, `replay`) is recognised from this data alone.
 */
import { UnrecoverableError } from 'bullmq';
import type { DeliveryJobData } from '../../src/shared/names.js';

/** What the worker adds to a delivery job's data. Absent on a job the router has just queued. */
export interface DeliveryProgress {
  /** Attempts spent so far (an attempt while the breaker is open is not spent). */
  attempts?: number;
  /** Set when the worker dead-lettered the job; a job that runs again with it set starts afresh. */
  deadLettered?: boolean;
  /**
   * Set by the router when its first attempt already decided the delivery is dead (410, or a
   * schedule without retries): the worker dead-letters the job at once, without another attempt.
   * The text is that attempt's error. Cleared when the job is dead-lettered, so a replay starts afresh.
   */
  deadLetterNow?: string;
}

export type TrackedDeliveryData = DeliveryJobData & DeliveryProgress;

/**
 * The number of the attempt about to be made: 1 on the first try, and 1 again for a dead letter
 * that someone put back (it gets the whole schedule again).
 */
export function nextAttempt(data: TrackedDeliveryData): number {
  if (data.deadLettered) return 1;
  return (data.attempts ?? 0) + 1;
}

/** The data after `attempt` failed and will be retried. */
export function afterFailedAttempt(data: TrackedDeliveryData, attempt: number): TrackedDeliveryData {
  const { deadLettered: _cleared, ...rest } = data;
  return { ...rest, attempts: attempt };
}

/** The data of a dead letter: its last attempt and the mark that a later run starts afresh. */
export function asDeadLetter(data: TrackedDeliveryData, attempt?: number): TrackedDeliveryData {
  const { deadLetterNow: _done, ...rest } = data;
  return { ...rest, ...(attempt === undefined ? {} : { attempts: attempt }), deadLettered: true };
}

/** The data of a job the router queues only to be dead-lettered: its first attempt said so. */
export function deadOnFirstAttempt(data: DeliveryJobData, error: string): TrackedDeliveryData {
  return { ...data, attempts: 1, deadLetterNow: error };
}

/**
 * Thrown by the worker to dead-letter a delivery (after the last attempt, or on a never-retried
 * answer such as 410). A subclass of BullMQ's UnrecoverableError, so BullMQ fails the job at once;
 * our own class, so a failure that did not come from the worker (a job that stalled too often)
 * is told apart by its class, not by its message.
 */
export class DeadLetterError extends UnrecoverableError {
  constructor(message: string) {
    super(message);
    this.name = 'DeadLetterError';
  }
}
