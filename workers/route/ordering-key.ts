/**
 * The key of a callback for an ordered target: the first of the target's `ordering.key` fields the
 * stored body carries with a string or number value, with the app id (room and stream ids are only
 * unique within an app): `111111/task_id=111111:1111`. Read with the raw scanner, never through a JS
 * number, so a 64-bit `room_session_id` keeps every digit; `"123"` and `123` name the same key (a
 * form cannot tell them apart). Pure.
 */
import { topLevelMembers, type RawMember } from '../../src/lib/raw-json.js';

/** The body's top-level members, or undefined when it is not a JSON object (never from a receiver). */
export function bodyMembers(body: string): readonly RawMember[] | undefined {
  try {
    // The scanner assumes valid JSON: check first, so a malformed body cannot mislead it.
    JSON.parse(body);
  } catch {
    return undefined;
  }
  return topLevelMembers(body);
}

/**
 * The key named by the first of `fields` present in `members`, or undefined when none is: the
 * callback is delivered unordered. An empty string, null, a boolean, an object or a list does not
 * name a key; the field's last occurrence counts, as it does for JSON.parse.
 */
export function orderingKey(members: readonly RawMember[] | undefined, appId: string, fields: readonly string[]): string | undefined {
  if (!members) return undefined;
  for (const field of fields) {
    const member = members.findLast((candidate) => candidate.key === field);
    if (!member || (member.kind !== 'string' && member.kind !== 'number') || member.text === '') continue;
    return `${appId}/${field}=${member.text}`;
  }
  return undefined;
}
