/**
 * A process's resident set size from Linux /proc, and a sampler that keeps its start, peak and
 * end while a benchmark runs (bench/e2e.ts samples each relay child, bench/lib/relay-cli.ts the CLI).
 */
import { readFileSync } from 'node:fs';

/** VmRSS of `pid` in bytes, or undefined when the process is gone (or not on Linux). */
export function readRssBytes(pid: number): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

export interface RssFigures {
  startBytes: number;
  peakBytes: number;
  endBytes: number;
  samples: number;
}

export interface RssSampler {
  /** Takes a last sample, stops and returns the figures. */
  stop(): RssFigures;
}

/** Samples `pid` now and every `intervalMs` until `stop()`. */
export function sampleRss(pid: number, intervalMs = 200): RssSampler {
  const values: number[] = [];
  const sample = () => {
    const value = readRssBytes(pid);
    if (value !== undefined) values.push(value);
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return { startBytes: values[0] ?? 0, peakBytes: Math.max(0, ...values), endBytes: values.at(-1) ?? 0, samples: values.length };
    },
  };
}
