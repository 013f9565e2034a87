/** Printing helpers for people: durations, listener addresses, text a sender chose (URLs: lib/redact.ts displayUrl). */
import { formatDuration } from '../config/units.js';

/** `1s, 5s, 30s` for a retry schedule. */
export function formatSchedule(schedule: readonly number[]): string {
  return schedule.length === 0 ? 'none' : schedule.map(formatDuration).join(', ');
}

/** Control characters (C0, DEL, C1) and line breaks as \u escapes: one line, no terminal commands. */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
