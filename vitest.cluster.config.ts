import { defineConfig } from 'vitest/config';

/**
 * `npm run test:cluster`: the scale-out suites (Redis Cluster, Sentinel, failovers). Each starts
 * six to eight redis-server processes, so they run one file at a time, apart from `npm test`.
 */
export default defineConfig({
  test: {
    include: ['test/cluster/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    maxWorkers: 1,
    fileParallelism: false,
    reporters: ['default'],
  },
});
