/**
 * What a benchmark section is: a name and a function that measures something, prints as it goes
 * and returns its figures as report tables. `bench/run.ts` runs the sections in order on one shared
 * redis-server, prints every table side by side at the end and writes docs/BENCHMARKS.md.
 */
import type { RedisServer } from '../../src/dev/redis-process.js';
import type { SectionFigures } from '../report.js';

export interface BenchContext {
  /** A redis-server started for the run (AOF, appendfsync always). Use your own key prefix. */
  redis: RedisServer;
  /** Measured seconds per load run (BENCH_DURATION, default 10). */
  durationSeconds: number;
  /** Unmeasured seconds before each load run (BENCH_WARMUP, default 2). */
  warmupSeconds: number;
  /** BENCH_QUICK=1: a smoke run, sections scale their N down. */
  quick?: boolean;
}

export interface BenchSection {
  name: string;
  /** Resolves to the section's tables (none: it only prints). */
  run(context: BenchContext): Promise<SectionFigures[] | void>;
}
