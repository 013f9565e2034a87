/**
 * What a benchmark section is: a name and a function that measures something and returns rows to
 * print. `bench/run.ts` runs the sections in order on one shared redis-server.
 */
import type { RedisServer } from '../../src/ops/redis-process.js';

export interface BenchContext {
  /** A redis-server started for the run (AOF, appendfsync always). Use your own key prefix. */
  redis: RedisServer;
  /** Measured seconds per load run (BENCH_DURATION, default 10). */
  durationSeconds: number;
  /** Unmeasured seconds before each load run (BENCH_WARMUP, default 2). */
  warmupSeconds: number;
}

export interface BenchSection {
  name: string;
  run(context: BenchContext): Promise<void>;
}
