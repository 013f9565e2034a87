/**
 * What Bull Board shows of a delivery job, for people: the body as JSON rather than one escaped
 * string, the target, and the attempts. Display only: Bull Board applies these to its copy of a
 * job when it answers the UI, so the stored job, and the bytes a target receives, stay as received.
 * None of these functions throws: a job that does not look like a delivery is shown as it is.
 */
import { topLevelMembers } from '../lib/raw-json.js';

/** The parts of a BullMQ job (as `job.toJSON()` gives it to Bull Board's name formatter) used here. */
export interface JobView {
  readonly name?: unknown;
  /** The delivery's data: the worker keeps its attempt count there (workers/deliver/progress.ts). */
  readonly data?: unknown;
  readonly finishedOn?: unknown;
  readonly failedReason?: unknown;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A number JSON.parse may have rounded: an integer beyond 2^53 (`6085791336856668982`). */
const isUnsafeInteger = (value: unknown): boolean => typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value);

function containsUnsafeInteger(value: unknown): boolean {
  if (isUnsafeInteger(value)) return true;
  if (Array.isArray(value)) return value.some(containsUnsafeInteger);
  if (isRecord(value)) return Object.values(value).some(containsUnsafeInteger);
  return false;
}

/**
 * The body as a JSON value to show, or the text itself when it is not JSON. ZEGO sends UInt64
 * values such as `room_session_id` as bare numbers, which JSON.parse would round: a top-level one
 * is shown as a string of its exact digits; a deeper one makes the whole body show as text.
 */
export function displayBody(text: string): unknown {
  try {
    const parsed: unknown = JSON.parse(text);
    if (!containsUnsafeInteger(parsed)) return parsed;
    if (!isRecord(parsed)) return text;
    for (const member of topLevelMembers(text) ?? []) {
      if (member.kind !== 'number' || !isUnsafeInteger(Number(member.text))) continue;
      // defineProperty, not assignment: a member named __proto__ must stay a plain member.
      Object.defineProperty(parsed, member.key, { value: member.text, enumerable: true, writable: true, configurable: true });
    }
    return containsUnsafeInteger(parsed) ? text : parsed;
  } catch {
    // Not JSON, or nested too deeply to walk: the text is still exact.
    return text;
  }
}

/**
 * A delivery's data as Bull Board shows it: `target` first (display only), then the stored fields
 * with `body` as JSON. Anything else is shown unchanged.
 */
export function displayJobData(data: unknown, target: string | undefined): unknown {
  if (!isRecord(data) || typeof data.body !== 'string') return data;
  return { ...(target === undefined ? {} : { target }), ...data, body: displayBody(data.body) };
}

/**
 * The job's name (its event), the target and the attempts made of the `allowed` (1 + the target's
 * schedule): `mix_stop → billing · attempts 1/10`. An unrouted callback is never attempted: its
 * event only. The worker records failed attempts in the data and writes nothing on success, so a
 * delivered job counts one more than it records.
 */
export function displayJobName(job: JobView | null | undefined, target: string | undefined, allowed = 1): string {
  const event = typeof job?.name === 'string' ? job.name : '';
  if (target === undefined) return event;
  const data = isRecord(job?.data) ? job.data : {};
  const finished = typeof job?.finishedOn === 'number';
  const delivered = finished && !job?.failedReason;
  // A dead letter put back (Bull Board's retry, replay) starts its schedule afresh.
  const restarted = data.deadLettered === true && !finished;
  const recorded = typeof data.attempts === 'number' && !restarted ? data.attempts : 0;
  return `${event} → ${target} · attempts ${recorded + (delivered ? 1 : 0)}/${allowed}`;
}
