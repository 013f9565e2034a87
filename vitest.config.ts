import { defineConfig } from 'vitest/config';

/**
 * Three tiers (vitest projects), all run by `npm test`:
 * - unit: pure code, no process, no Redis, no build step (`npm run test:unit`, the fast loop);
 * - integration: real Redis and real HTTP servers on 127.0.0.1, in-process;
 * - system: real processes (the compiled CLI and worker entry, Chromium), crash, chaos and backlog.
 *   Only this tier compiles dist/ first (test/global-setup.ts).
 * A new test file lands in integration unless it is listed below. The scale-out suites (whole
 * clusters, failovers) are not part of it: `npm run test:cluster` (vitest.cluster.config.ts).
 */
const UNIT = [
  'test/admin-credentials.test.ts',
  'test/backoff.test.ts',
  'test/bench-report.test.ts',
  'test/bull-board-format.test.ts',
  'test/bull-board-routes.test.ts',
  'test/cli-config.test.ts',
  'test/config-details.test.ts',
  'test/config-reference.test.ts',
  'test/config-redis.test.ts',
  'test/config-warnings.test.ts',
  'test/config.test.ts',
  'test/deliver-decision.test.ts',
  'test/deliver-outcome.test.ts',
  'test/deliver-progress.test.ts',
  'test/deliver-sign.test.ts',
  'test/display-url.test.ts',
  'test/docs-links.test.ts',
  'test/first-attempt.test.ts',
  'test/import-graph.test.ts',
  'test/intake-entry.test.ts',
  'test/intake-verdict.test.ts',
  'test/key-slot.test.ts',
  'test/log-serializer.test.ts',
  'test/ordering-config.test.ts',
  'test/ordering-key.test.ts',
  'test/receive-body.test.ts',
  'test/receive-identity.test.ts',
  'test/receive-outcome.test.ts',
  'test/receive-payload.test.ts',
  'test/receive-rejections.test.ts',
  'test/receive-validate.test.ts',
  'test/route-batch.test.ts',
  'test/route.test.ts',
  'test/signature.test.ts',
  'test/spool-record.test.ts',
  'test/trace-context.test.ts',
  'test/version.test.ts',
];
const SYSTEM = [
  'test/backlog.test.ts',
  'test/breaker-processes.test.ts',
  'test/browser-cross-site.test.ts',
  'test/browser.test.ts',
  'test/chaos-aof.test.ts',
  'test/chaos.test.ts',
  'test/cli.test.ts',
  'test/compose.test.ts',
  'test/config-security.test.ts',
  'test/crash.test.ts',
  'test/deliveries.test.ts',
  'test/first-attempt-crash.test.ts',
  'test/first-run.test.ts',
  'test/logging.test.ts',
  'test/ordering-crash.test.ts',
  'test/redis-credentials.test.ts',
  'test/rejected.test.ts',
  'test/router-crash.test.ts',
  'test/spool-outage.test.ts',
  'test/start.test.ts',
  'test/tracing-processes.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores: crash and browser tests start processes of their own; keep the pool small.
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT } },
      { extends: true, test: { name: 'integration', include: ['test/**/*.test.ts'], exclude: [...UNIT, ...SYSTEM, 'test/cluster/**'] } },
      { extends: true, test: { name: 'system', include: SYSTEM, globalSetup: ['test/global-setup.ts'] } },
    ],
  },
});
