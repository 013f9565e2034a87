/**
 * Durations and sizes as operators write them in YAML. Pure functions, no I/O.
 * A duration is a number of milliseconds or a string like `500ms`, `5s`, `5m`, `2h`, `3d`.
 * A size is a number of bytes or a string like `512b`, `256kb`, `1mb`, `1gb` (powers of 1024).
 */

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS_BYTES: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

const DURATION_PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/i;
const SIZE_PATTERN = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)$/i;

/** Milliseconds for a duration, or undefined when the text is not one. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const match = DURATION_PATTERN.exec(trimmed);
  if (!match) return undefined;
  return Math.round(Number(match[1]) * DURATION_UNITS_MS[match[2]!.toLowerCase()]!);
}

/** Bytes for a size, or undefined when the text is not one. */
export function parseSize(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const match = SIZE_PATTERN.exec(trimmed);
  if (!match) return undefined;
  return Math.floor(Number(match[1]) * SIZE_UNITS_BYTES[match[2]!.toLowerCase()]!);
}

/** A size as an operator would write it: the largest unit that divides it (`1073741824` -> `1gb`, `1500` -> `1500b`). */
export function formatSize(bytes: number): string {
  for (const unit of ['gb', 'mb', 'kb'] as const) {
    const size = SIZE_UNITS_BYTES[unit]!;
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}b`;
}

/** A short human form of a duration for logs and `check-config` (`90000` -> `1m30s`). */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, seconds] of [['d', 86_400], ['h', 3_600], ['m', 60], ['s', 1]] as const) {
    if (rest >= seconds) {
      parts.push(`${Math.floor(rest / seconds)}${unit}`);
      rest %= seconds;
    }
  }
  return parts.join('');
}
