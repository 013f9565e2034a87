/**
 * URL-decoding (`application/x-www-form-urlencoded` rules: `+` is a space, `%XX` a byte) for form
 * fields and URL-encoded JSON bodies. Lenient where browsers and PHP are: a `%` that does not start
 * an escape stays as it is. Strict where the relay must be: escapes that make invalid UTF-8 are
 * refused (400 invalid_body), never replaced, since a replaced byte changes the callback.
 */
import { HttpError } from '../errors.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const ESCAPE_RUN = /(?:%[0-9A-Fa-f]{2})+/g;

/** The decoded text; 400 invalid_body when the escapes are not UTF-8. */
export function urlDecode(text: string): string {
  const spaced = text.includes('+') ? text.replace(/\+/g, ' ') : text;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    // A stray `%` or invalid UTF-8: decode each run of escapes on its own to tell which.
    return spaced.replace(ESCAPE_RUN, decodeEscapeRun);
  }
}

function decodeEscapeRun(run: string): string {
  try {
    return strictUtf8.decode(Buffer.from(run.replace(/%/g, ''), 'hex'));
  } catch {
    throw new HttpError(400, 'invalid_body', 'the body has %-escapes that are not UTF-8');
  }
}
