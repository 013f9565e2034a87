/**
 * The callback id: `cb_` + 32 hex chars of SHA-256 over a canonical encoding of what identifies the
 * callback, so ZEGO's retries and re-sends (new timestamp, nonce, signature) get the same id, and so
 * do the JSON, the URL-encoded JSON and the form version of one callback: every value is the decoded
 * text of the field (a form cannot tell `1` from `"1"`, so neither does the id), never a JS number,
 * so two UInt64s that differ in the last digit never collide. `cb_<hex>` is a valid BullMQ job id
 * (no ':', not an integer).
 */
import { createHash } from 'node:crypto';
import { COMMON_FIELDS, IDENTITY_FIELDS, PER_SEND_FIELDS } from '../shared/events.js';
import { canonicalJson } from '../lib/raw-json.js';
import type { FieldValue } from './payload.js';
import type { Callback } from './validate.js';

/**
 * Bumped if the encoding ever changes, so old and new ids can never be confused. (Not bumped when
 * array and object values became canonical: only body-hashed callbacks with such fields changed id,
 * while a bump would give every callback in flight during an upgrade a new id.)
 */
const ENCODING_VERSION = 'zego-relay/callback-id/1';

const COMMON_SPELLINGS: ReadonlySet<string> = new Set([...COMMON_FIELDS.appId, ...COMMON_FIELDS.event]);

/**
 * The id of a validated callback: ZEGO's identity fields (shared/events.ts, plus appid) for a known event that has
 * them all; otherwise every top-level field but timestamp, nonce and signature, sorted by key.
 */
export function callbackId(callback: Callback): string {
  const pairs = identityPairs(callback) ?? bodyPairs(callback);
  const encoded = JSON.stringify([ENCODING_VERSION, pairs]);
  return `cb_${createHash('sha256').update(encoded).digest('hex').slice(0, 32)}`;
}

function identityPairs(callback: Callback): [string, string][] | undefined {
  const names = callback.known ? IDENTITY_FIELDS[callback.event] : undefined;
  if (!names) return undefined;
  const pairs: [string, string][] = [['appid', callback.appId], ['event', callback.event]];
  for (const name of names) {
    const text = callback.fields.get(name)?.text;
    if (!text) return undefined;
    pairs.push([name, text]);
  }
  return pairs;
}

function bodyPairs(callback: Callback): [string, string][] {
  // appid and event under one spelling, so PascalCase and snake_case senders agree.
  const pairs: [string, string][] = [['appid', callback.appId], ['event', callback.event]];
  for (const [name, value] of callback.fields) {
    if (PER_SEND_FIELDS.has(name) || COMMON_SPELLINGS.has(name)) continue;
    pairs.push([name, isContainer(value) ? canonicalJson(value.text) : value.text]);
  }
  // Names are unique (a field map's keys, and appid and event are skipped above): never equal.
  return pairs.sort(([a], [b]) => (a < b ? -1 : 1));
}

/** An array or object, hashed canonically: `[ 1, "a" ]` in JSON and `k=1&k=a` in a form agree. */
function isContainer(value: FieldValue): boolean {
  if (value.scalar) return false;
  const first = value.text.charCodeAt(0);
  return first === 0x5b /* [ */ || first === 0x7b /* { */;
}
