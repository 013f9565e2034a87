/**
 * Decodes a callback body (JSON or form) into its top-level fields as exact text, and the body to
 * forward. No value goes through a JS number: a JSON number keeps its source digits.
 */
import { HttpError } from '../errors.js';
import { topLevelMembers } from './raw-json.js';
import { SCALAR_FIELDS } from './events.js';
import type { RawBody } from './read-body.js';

export interface FieldValue {
  /** A string's decoded value, a number's source digits, or the source JSON of anything else. */
  text: string;
  /** True for a string or a number (the only types an identity or common field may have). */
  scalar: boolean;
}

export interface DecodedBody {
  /** Top-level fields by their key as sent, in source order. */
  fields: Map<string, FieldValue>;
  /** The JSON to forward: the exact text for JSON, a JSON object of the fields for a form. */
  forwardBody: string;
}

/** 400 invalid_body when the text is not a JSON object or a form; 400 invalid_payload for a repeated field. */
export function decodeBody(body: RawBody): DecodedBody {
  return body.format === 'json' ? decodeJson(body.text) : decodeForm(body.text);
}

function decodeJson(text: string): DecodedBody {
  let parsed: unknown;
  try {
    // JSON.parse is the validator; the values come from the scanner, which keeps 64-bit digits.
    parsed = JSON.parse(text);
  } catch {
    throw invalidBody('the body is not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw invalidBody('the body must be a JSON object');
  }
  const fields = new Map<string, FieldValue>();
  for (const member of topLevelMembers(text) ?? []) {
    // JSON.parse keeps the last of two equal keys; a forwarder might keep the first. Refuse both.
    if (fields.has(member.key)) throw repeated(member.key);
    const scalar = member.kind === 'string' || member.kind === 'number';
    fields.set(member.key, { text: member.text, scalar });
  }
  return { fields, forwardBody: text };
}

function decodeForm(text: string): DecodedBody {
  const values = new Map<string, string[]>();
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const separator = pair.indexOf('=');
    const key = decodeComponent(separator === -1 ? pair : pair.slice(0, separator));
    const value = separator === -1 ? '' : decodeComponent(pair.slice(separator + 1));
    const list = values.get(key);
    if (list) list.push(value);
    else values.set(key, [value]);
  }
  if (values.size === 0) throw invalidBody('the form has no fields');

  const fields = new Map<string, FieldValue>();
  const forward: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  for (const [key, list] of values) {
    if (list.length === 1) {
      fields.set(key, { text: list[0]!, scalar: true });
      forward[key] = list[0]!;
    } else {
      if (SCALAR_FIELDS.has(key)) throw repeated(key);
      // A repeated free-form field is a list: forwarded as a JSON array of its values.
      fields.set(key, { text: JSON.stringify(list), scalar: false });
      forward[key] = list;
    }
  }
  return { fields, forwardBody: JSON.stringify(forward) };
}

/** Form decoding with `+` as space; malformed escapes and invalid UTF-8 are refused, not replaced. */
function decodeComponent(text: string): string {
  const spaced = text.includes('+') ? text.replace(/\+/g, ' ') : text;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    throw invalidBody('the form has a malformed %-escape or invalid UTF-8');
  }
}

function invalidBody(message: string): HttpError {
  return new HttpError(400, 'invalid_body', message);
}

function repeated(key: string): HttpError {
  return new HttpError(400, 'invalid_payload', `the field ${quoteName(key)} appears more than once`);
}

/** A field name for an error message: quoted and cut short, since a sender chooses it. */
export function quoteName(name: string): string {
  return JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}...` : name);
}
