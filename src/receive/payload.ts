/**
 * Decodes a callback body into its top-level fields as exact text, and the body to forward.
 *
 * The body is read by its shape, never by its declared type (nobody outside ZEGO knows which one
 * it sends, and a wrong guess would refuse every callback): a JSON object, a URL-encoded JSON
 * object (`%7B%22appid%22...`, decoded first), or else a form. No value goes through a JS number:
 * a JSON number keeps its source digits.
 */
import { HttpError } from '../errors.js';
import { topLevelMembers } from '../lib/raw-json.js';
import { SCALAR_FIELDS } from '../shared/events.js';
import { urlDecode } from './url-encoding.js';

export interface FieldValue {
  /** A string's decoded value, a number's source digits, or the source JSON of anything else. */
  text: string;
  /** True for a string or a number (the only types an identity or common field may have). */
  scalar: boolean;
}

export interface DecodedBody {
  /** Top-level fields by their key as sent, in source order. */
  fields: Map<string, FieldValue>;
  /**
   * The JSON to forward: the exact text of a JSON body, the decoded text of URL-encoded JSON, a
   * JSON object of the fields for a form.
   */
  forwardBody: string;
}

/** The shapes a body may have, by what it starts with (after whitespace). */
const JSON_OBJECT = /^\s*\{/;
const URL_ENCODED_JSON_OBJECT = /^\s*%7b/i;
/** What a JSON array, string or number starts with: worth a JSON.parse to say "not an object". */
const OTHER_JSON = /^\s*["[\d-]/;

/**
 * 400 invalid_body when a body that starts like a JSON object does not parse; 400 invalid_payload
 * for JSON that is not an object, a repeated field and two keys that differ only in letter case. Anything else is read as a form (whose
 * missing fields validation reports).
 */
export function decodeBody(text: string): DecodedBody {
  if (JSON_OBJECT.test(text)) return decodeJson(text, 'the body is not valid JSON');
  if (URL_ENCODED_JSON_OBJECT.test(text)) return decodeJson(urlDecode(text), 'the body is URL-encoded but not valid JSON');
  if (OTHER_JSON.test(text) && parsesAsJson(text)) {
    throw new HttpError(400, 'invalid_payload', 'the body is JSON but not an object');
  }
  return decodeForm(text);
}

function parsesAsJson(text: string): boolean {
  try {
    JSON.parse(text);
  } catch {
    return false;
  }
  return true;
}

/** `text` starts with `{`: valid JSON is an object. */
function decodeJson(text: string, notJson: string): DecodedBody {
  try {
    // JSON.parse is the validator; the values come from the scanner, which keeps 64-bit digits.
    JSON.parse(text);
  } catch {
    throw new HttpError(400, 'invalid_body', notJson);
  }
  const fields = new Map<string, FieldValue>();
  const keys = new KeySpellings();
  // A text that starts with `{` and parses is an object: the scanner finds its members.
  for (const member of topLevelMembers(text)!) {
    // JSON.parse keeps the last of two equal keys; a forwarder might keep the first. Refuse both.
    if (fields.has(member.key)) throw repeated(member.key);
    keys.add(member.key);
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
    const key = urlDecode(separator === -1 ? pair : pair.slice(0, separator));
    const value = separator === -1 ? '' : urlDecode(pair.slice(separator + 1));
    const list = values.get(key);
    if (list) list.push(value);
    else values.set(key, [value]);
  }

  const fields = new Map<string, FieldValue>();
  const keys = new KeySpellings();
  const forward: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  for (const [key, list] of values) {
    keys.add(key);
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

/**
 * Refuses two keys that differ only in letter case (`appid` and `APPID`, `nonce` and `Nonce`): the
 * relay reads one, and a target that looks keys up ignoring case may read the other. Folded as
 * case-insensitive lookups do, Unicode's too (`ſ` is an `s`, the Kelvin sign a `k`).
 */
class KeySpellings {
  private readonly byFolded = new Map<string, string>();

  add(key: string): void {
    const folded = key.toUpperCase().toLowerCase();
    const other = this.byFolded.get(folded);
    if (other !== undefined && other !== key) {
      throw new HttpError(400, 'invalid_payload', `the fields ${quoteName(other)} and ${quoteName(key)} differ only in letter case`);
    }
    this.byFolded.set(folded, key);
  }
}

function repeated(key: string): HttpError {
  return new HttpError(400, 'invalid_payload', `the field ${quoteName(key)} appears more than once`);
}

/** A field name for an error message: quoted and cut short, since a sender chooses it. */
export function quoteName(name: string): string {
  return JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}...` : name);
}
