/**
 * `npm run bench`: starts a redis-server (AOF, appendfsync always, as in production) and runs each
 * section in order. BENCH_SECTIONS=ingest,... picks sections; BENCH_DURATION and BENCH_WARMUP set
 * the seconds of each load run. Add a section: write a BenchSection and list it below.
 */
import { startRedisServer } from '../src/ops/redis-process.js';
import { endToEndSection } from './e2e.js';
import { ingestSection } from './ingest.js';
import type { BenchSection } from './lib/section.js';

const SECTIONS: readonly BenchSection[] = [ingestSection, endToEndSection];

function selectedSections(): BenchSection[] {
  const wanted = process.env.BENCH_SECTIONS?.split(',').map((name) => name.trim()).filter(Boolean);
  if (!wanted) return [...SECTIONS];
  const unknown = wanted.filter((name) => !SECTIONS.some((section) => section.name === name));
  if (unknown.length > 0) {
    throw new Error(`unknown BENCH_SECTIONS ${unknown.join(', ')} (known: ${SECTIONS.map((s) => s.name).join(', ')})`);
  }
  return SECTIONS.filter((section) => wanted.includes(section.name));
}

const sections = selectedSections();
const redis = await startRedisServer({ appendfsync: 'always' });
try {
  const context = {
    redis,
    durationSeconds: Number(process.env.BENCH_DURATION ?? 10),
    warmupSeconds: Number(process.env.BENCH_WARMUP ?? 2),
  };
  for (const section of sections) {
    console.log(`\n== ${section.name} ==`);
    await section.run(context);
  }
} finally {
  await redis.stop();
}
