/** Printing helpers for people: durations, listener addresses (URLs: lib/redact.ts displayUrl). */
import { formatDuration } from '../config/units.js';

/** The address a person on this machine types for a listener bound to `host`. */
export function reachableHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/** `1s, 5s, 30s` for a retry schedule. */
export function formatSchedule(schedule: readonly number[]): string {
  return schedule.length === 0 ? 'none' : schedule.map(formatDuration).join(', ');
}
