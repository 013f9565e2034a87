/**
 * A YAML syntax error in words, without the secrets of the lines around it. The yaml library's
 * own message quotes the offending lines; a config file may hold a literal secret on exactly that
 * line, and check-config and start print the error. So the message names the line and column and
 * shows the lines with secret values masked, in two layers:
 * - what the document says: the yaml parser keeps the parts it could read even around an error,
 *   so the source ranges of the values of secret keys (block or flow style: `{ password: "..." }`,
 *   `callbackSecrets: ["..."]`, every header value) and of URLs with credentials are masked;
 * - line by line, for what the parser could not place: the value after a secret key anywhere on a
 *   line, the items under one, URL credentials.
 */
import { isMap, isNode, isScalar, visit, type Document, type Node, type YAMLError } from 'yaml';
import { SECRET_KEY, maskUrlCredentials } from '../lib/redact.js';

/** `[start, end)` offsets of the source text. */
export type SourceRange = readonly [number, number];

/** Values under these keys are masked; `headers` holds Authorization and tokens under any name. */
const MASKED_KEY = new RegExp(`${SECRET_KEY.source}|^headers$`, 'i');

/** A block mapping line `  key: value` or `  - key: value`: indentation, key, where the value starts. */
const KEY_LINE = /^(\s*(?:-\s+)*)(["']?)([^\s"'#:][^#:]*?)\2\s*:(?=\s|$)/;

/** Lines shown before the one the error points at. */
const CONTEXT_LINES = 2;

/** What the parsed document says about its secrets (findSecrets). */
export interface DocumentSecrets {
  /** Source ranges to mask. */
  readonly ranges: readonly SourceRange[];
  /** Offsets of the secret keys whose values the document placed (and `ranges` cover). */
  readonly placedKeys: ReadonlySet<number>;
}

const NOTHING_PLACED: DocumentSecrets = { ranges: [], placedKeys: new Set() };

/**
 * One line per error: the message, its line and column, and the masked lines before it.
 * @param secrets - findSecrets of the document the error belongs to.
 */
export function describeYamlError(error: YAMLError, text: string, secrets: DocumentSecrets = NOTHING_PLACED): string {
  const message = error.message.split(/ at line \d+, column \d+/)[0]!.trim();
  const position = error.linePos?.[0];
  if (!position) return `YAML: ${message}`;
  const starts = lineStarts(text);
  const ranges = [...secrets.ranges, ...unplacedFlowSecrets(text, starts, secrets.placedKeys)];
  const lines = maskRanges(text, ranges).split(/\r?\n/);
  // An unclosed quote or bracket is reported where the file or the block ends: show the lines
  // before the position too, where the mistake usually is.
  const last = Math.min(position.line, lines.length);
  const shown = [];
  for (let number = Math.max(1, last - CONTEXT_LINES); number <= last; number += 1) {
    if (number === last && lines[number - 1]!.trim() === '' && number > 1) break;
    const placed = (column: number) => secrets.placedKeys.has(starts[number - 1]! + column);
    shown.push(`      ${String(number).padStart(4)} | ${maskLine(lines, number - 1, placed)}`);
  }
  return `YAML: ${message} (line ${position.line}, column ${position.col}):\n${shown.join('\n')}`;
}

/**
 * Line `index` with the value masked when its key, or the key it belongs to, names a secret.
 * @param placed - true for the column of a secret key whose value the document placed (and
 *   findSecrets masked, keeping the names of headers): that line is left as it is.
 */
export function maskLine(lines: readonly string[], index: number, placed: (column: number) => boolean = () => false): string {
  const line = maskUrlCredentials(lines[index] ?? '');
  const own = KEY_LINE.exec(line);
  if (own && placed(own[1]!.length)) return line;
  const item = /^\s*(?:-\s+)*/.exec(line)![0];
  const underSecret = parentKeyIsMasked(lines, index);
  // A list item under a secret key is a secret as a whole (`- a: b` included); a `Name: value`
  // line keeps its name.
  if (underSecret && item.includes('-')) return item + maskValue(line.slice(item.length));
  if (own && (underSecret || MASKED_KEY.test(own[3]!))) return own[0] + maskValue(line.slice(own[0].length));
  if (underSecret) return item + maskValue(line.slice(item.length));
  return line;
}

/**
 * True when the key `lines[index]` belongs to names a secret (or is `headers`): the nearest key
 * line above it that starts left of it (a list item may also start right under its key).
 */
function parentKeyIsMasked(lines: readonly string[], index: number): boolean {
  const line = lines[index] ?? '';
  const column = indentOf(line);
  const isItem = /^\s*-(\s|$)/.test(line);
  for (let above = index - 1; above >= 0; above -= 1) {
    const key = KEY_LINE.exec(lines[above]!);
    if (!key) continue;
    const keyColumn = key[1]!.length;
    if (keyColumn < column || (isItem && keyColumn === column)) return MASKED_KEY.test(key[3]!);
  }
  return false;
}

const indentOf = (line: string) => /^\s*/.exec(line)![0].length;

/** Every run of value characters becomes `***`; quotes, brackets and commas stay to show the syntax. */
function maskValue(value: string): string {
  return value.replace(/[^\s[\]{}"',]+/g, '***');
}

/** A secret key after `{`, `[`, `,` or a space, with the offset of its first character. */
const FLOW_SECRET_KEY = new RegExp(`(?<=[{[,\\s])(["']?)(?:[\\w-]*(?:${SECRET_KEY.source})[\\w-]*|headers)\\1\\s*:(?=\\s|$)`, 'gi');

/**
 * Where the document placed nothing: the rest of the line after a secret key inside a line (a
 * flow collection, `{ password: x }`) whose value the parser did not make out.
 */
function unplacedFlowSecrets(text: string, starts: readonly number[], placedKeys: ReadonlySet<number>): SourceRange[] {
  const ranges: SourceRange[] = [];
  starts.forEach((start, index) => {
    const end = index + 1 < starts.length ? starts[index + 1]! : text.length;
    const line = text.slice(start, end);
    for (const found of line.matchAll(FLOW_SECRET_KEY)) {
      if (placedKeys.has(start + found.index)) continue;
      ranges.push([start + found.index + found[0].length, end]);
      break;
    }
  });
  return ranges;
}

/** The offset where each line of `text` starts. */
function lineStarts(text: string): number[] {
  const starts = [0];
  for (const found of text.matchAll(/\r?\n/g)) starts.push(found.index + found[0].length);
  return starts;
}

const HEADERS = /^headers$/i;

/**
 * The secrets of a parsed document (errors and all): the whole source of the value of every secret
 * key (but the header names of `headers`, which stay readable), and every scalar holding a URL
 * with credentials.
 */
export function findSecrets(document: Document): DocumentSecrets {
  const ranges: SourceRange[] = [];
  const placedKeys = new Set<number>();
  visit(document, {
    Pair(_key, pair) {
      if (!isScalar(pair.key) || !MASKED_KEY.test(String(pair.key.value))) return undefined;
      const { value } = pair;
      if (!isNode(value) || !value.range) return undefined;
      const range: SourceRange = [value.range[0], value.range[1]];
      ranges.push(...(HEADERS.test(String(pair.key.value)) ? withoutHeaderNames(value, range) : [range]));
      if (pair.key.range) placedKeys.add(pair.key.range[0]);
      return visit.SKIP;
    },
    Scalar(_key, scalar) {
      if (scalar.range && typeof scalar.value === 'string' && URL_WITH_CREDENTIALS.test(scalar.value)) ranges.push([scalar.range[0], scalar.range[1]]);
    },
  });
  return { ranges, placedKeys };
}

const URL_WITH_CREDENTIALS = /[a-z][a-z0-9+.-]*:\/\/\S*@/i;

/**
 * `range` less the names of the headers of a `headers` mapping (its own keys only: anything deeper
 * is no header name, and a broken line such as `X-Api: a : b` nests its secret as a key).
 */
function withoutHeaderNames(node: Node, range: SourceRange): SourceRange[] {
  if (!isMap(node)) return [range];
  // A header's name and what separates it from its value (`: `) stay.
  const kept = node.items.flatMap((pair) => {
    if (!isScalar(pair.key) || !pair.key.range) return [];
    const valueStart = isNode(pair.value) && pair.value.range ? pair.value.range[0] : pair.key.range[1];
    return [[pair.key.range[0], valueStart] as const];
  });
  const parts: SourceRange[] = [];
  let start = range[0];
  for (const [keyStart, keyEnd] of kept.sort((a, b) => a[0] - b[0])) {
    if (keyStart > start) parts.push([start, keyStart]);
    start = Math.max(start, keyEnd);
  }
  if (start < range[1]) parts.push([start, range[1]]);
  return parts;
}

/** `text` with the value characters inside `ranges` masked; line breaks and syntax stay. */
function maskRanges(text: string, ranges: readonly SourceRange[]): string {
  let masked = '';
  let position = 0;
  for (const [start, end] of [...ranges].sort((a, b) => a[0] - b[0])) {
    if (end <= position) continue;
    const from = Math.max(start, position);
    masked += text.slice(position, from) + text.slice(from, end).split(/(\r?\n)/).map((part, index) => (index % 2 === 1 ? part : maskValue(part))).join('');
    position = end;
  }
  return masked + text.slice(position);
}
