/**
 * The source text of each top-level member of a JSON object, without going through JS numbers.
 *
 * `JSON.parse` turns `6085791336856668982` into `6085791336856669000`; ZEGO sends such UInt64
 * values (`room_session_id`) as bare numbers, and the relay must read them exactly. This scanner
 * walks the text once and slices each member's value as it was written. It assumes the text is
 * valid JSON (the caller runs `JSON.parse` first), so it only has to find boundaries.
 */

/** How a member's value was written. */
export type RawKind = 'string' | 'number' | 'literal' | 'object' | 'array';

export interface RawMember {
  /** The decoded key. */
  key: string;
  kind: RawKind;
  /** For a string: the decoded value. Otherwise the exact source text (`6085791336856668982`, `{"a":1}`). */
  text: string;
}

const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);
const QUOTE = 0x22;
/** `{ } [ ] , :` */
const STRUCTURE = new Set([0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a]);
const BACKSLASH = 0x5c;

/**
 * The top-level members of a JSON object in source order, or undefined when the text is not an
 * object. Input must already be valid JSON.
 */
export function topLevelMembers(text: string): RawMember[] | undefined {
  let position = skipWhitespace(text, 0);
  if (text.charCodeAt(position) !== 0x7b /* { */) return undefined;
  position = skipWhitespace(text, position + 1);
  const members: RawMember[] = [];
  if (text.charCodeAt(position) === 0x7d /* } */) return members;
  for (;;) {
    const keyEnd = stringEnd(text, position);
    const key = decodeString(text, position, keyEnd);
    position = skipWhitespace(text, keyEnd);
    position = skipWhitespace(text, position + 1); // past ':'
    const valueStart = position;
    const first = text.charCodeAt(valueStart);
    let kind: RawKind;
    let valueEnd: number;
    if (first === QUOTE) {
      kind = 'string';
      valueEnd = stringEnd(text, valueStart);
    } else if (first === 0x7b || first === 0x5b) {
      kind = first === 0x7b ? 'object' : 'array';
      valueEnd = containerEnd(text, valueStart);
    } else {
      kind = first === 0x74 || first === 0x66 || first === 0x6e /* t f n */ ? 'literal' : 'number';
      valueEnd = scalarEnd(text, valueStart);
    }
    const source = text.slice(valueStart, valueEnd);
    members.push({ key, kind, text: kind === 'string' ? decodeString(text, valueStart, valueEnd) : source });
    position = skipWhitespace(text, valueEnd);
    if (text.charCodeAt(position) !== 0x2c /* , */) return members;
    position = skipWhitespace(text, position + 1);
  }
}

/**
 * One text for equal values whatever their encoding, for identifying a callback: no whitespace,
 * strings with minimal escapes, and every number and literal written as a string of its source
 * text. A form cannot tell `1` from `"1"` (so neither may the id), and a 64-bit number keeps every
 * digit. Object keys keep their order. Iterative, so no nesting depth can overflow the stack.
 * Input must be valid JSON.
 */
export function canonicalJson(text: string): string {
  let canonical = '';
  let position = 0;
  while (position < text.length) {
    const code = text.charCodeAt(position);
    if (WHITESPACE.has(code)) {
      position += 1;
    } else if (code === QUOTE) {
      const end = stringEnd(text, position);
      canonical += JSON.stringify(decodeString(text, position, end));
      position = end;
    } else if (STRUCTURE.has(code)) {
      canonical += text[position];
      position += 1;
    } else {
      const end = scalarEnd(text, position);
      canonical += JSON.stringify(text.slice(position, end));
      position = end;
    }
  }
  return canonical;
}

function skipWhitespace(text: string, position: number): number {
  while (WHITESPACE.has(text.charCodeAt(position))) position += 1;
  return position;
}

/** Index just past the closing quote of the string starting at `start`. */
function stringEnd(text: string, start: number): number {
  let position = start + 1;
  for (;;) {
    const code = text.charCodeAt(position);
    if (code === BACKSLASH) position += 2;
    else if (code === QUOTE) return position + 1;
    else position += 1;
  }
}

/** Most ZEGO strings have no escapes: slice them; let JSON.parse decode the rest. */
function decodeString(text: string, start: number, end: number): string {
  const inner = text.slice(start + 1, end - 1);
  return inner.includes('\\') ? (JSON.parse(text.slice(start, end)) as string) : inner;
}

function scalarEnd(text: string, start: number): number {
  let position = start;
  for (;;) {
    const code = text.charCodeAt(position);
    if (Number.isNaN(code) || code === 0x2c || code === 0x7d || code === 0x5d || WHITESPACE.has(code)) return position;
    position += 1;
  }
}

/** Index just past the bracket closing the object or array at `start` (strings may hold brackets). */
function containerEnd(text: string, start: number): number {
  let depth = 0;
  let position = start;
  for (;;) {
    const code = text.charCodeAt(position);
    if (code === QUOTE) {
      position = stringEnd(text, position);
      continue;
    }
    if (code === 0x7b || code === 0x5b) depth += 1;
    else if ((code === 0x7d || code === 0x5d) && --depth === 0) return position + 1;
    position += 1;
  }
}
