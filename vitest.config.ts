import { defineConfig } from 'vitest/config';

/**
 * Three tiers (vitest projects), all run by `npm test`, each a folder of test/:
 * - test/unit: pure code, no process, no Redis, no build step (`npm run test:unit`, the fast loop);
 * - test/integration: real Redis and real HTTP servers on 127.0.0.1, in-process;
 * - test/system: real processes (the compiled CLI and worker entry, Chromium), crash, chaos and
 *   backlog. Only this tier compiles dist/ first (test/global-setup.ts).
 * A test file's folder is its tier. The scale-out suites (whole clusters, failovers) are not part
 * of it: `npm run test:cluster` (vitest.cluster.config.ts, test/cluster).
 */
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores: crash and browser tests start processes of their own; keep the pool small.
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      { extends: true, test: { name: 'integration', include: ['test/integration/**/*.test.ts'] } },
      { extends: true, test: { name: 'system', include: ['test/system/**/*.test.ts'], globalSetup: ['test/global-setup.ts'] } },
    ],
  },
});
