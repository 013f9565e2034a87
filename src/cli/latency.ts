/** Latency statistics for `simulate`'s summary. */

/** The nearest-rank percentile (0 < p <= 100) of `values`, or undefined when there are none. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** `12.3 ms`, or `-` when there is no value. */
export function formatMs(value: number | undefined): string {
  return value === undefined ? '-' : `${value.toFixed(1)} ms`;
}
