/**
 * A YAML syntax error in words, without the secrets of the lines around it. The yaml library's
 * own message quotes the offending lines; a config file may hold a literal secret on exactly that
 * line, and check-config and start print the error. So the message names the line and column and
 * shows the lines with the values of secret keys (and everything under `headers`) masked.
 */
import type { YAMLError } from 'yaml';
import { SECRET_KEY, maskUrlCredentials } from '../lib/redact.js';

/** Values under these keys are masked; `headers` holds Authorization and tokens under any name. */
const MASKED_KEY = new RegExp(`${SECRET_KEY.source}|^headers$`, 'i');

/** A block mapping line `  key: value` or `  - key: value`: indentation, key, where the value starts. */
const KEY_LINE = /^(\s*(?:-\s+)*)(["']?)([^\s"'#:][^#:]*?)\2\s*:(?=\s|$)/;

/** Lines shown before the one the error points at. */
const CONTEXT_LINES = 2;

/** One line per error: the message, its line and column, and the masked lines before it. */
export function describeYamlError(error: YAMLError, text: string): string {
  const message = error.message.split(/ at line \d+, column \d+/)[0]!.trim();
  const position = error.linePos?.[0];
  if (!position) return `YAML: ${message}`;
  const lines = text.split(/\r?\n/);
  // An unclosed quote or bracket is reported where the file or the block ends: show the lines
  // before the position too, where the mistake usually is.
  const last = Math.min(position.line, lines.length);
  const shown = [];
  for (let number = Math.max(1, last - CONTEXT_LINES); number <= last; number += 1) {
    if (number === last && lines[number - 1]!.trim() === '' && number > 1) break;
    shown.push(`      ${String(number).padStart(4)} | ${maskLine(lines, number - 1)}`);
  }
  return `YAML: ${message} (line ${position.line}, column ${position.col}):\n${shown.join('\n')}`;
}

/** Line `index` with the value masked when its key, or the key it belongs to, names a secret. */
export function maskLine(lines: readonly string[], index: number): string {
  const line = maskUrlCredentials(lines[index] ?? '');
  const own = KEY_LINE.exec(line);
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
