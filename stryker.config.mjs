// @ts-check
/**
 * StrykerJS for one scope at a time (test/mutation/scopes.mjs); run through `npm run test:mutation`
 * (test/mutation/run.mjs), which sets MUTATION_SCOPE. Incremental: the result of the last run on
 * this machine is kept in reports/mutation/incremental-<scope>.json (not committed: it is a cache,
 * and a score worth quoting comes from a `--force` run), so a run only re-tests the mutants whose
 * code or covering tests changed.
 */
import { currentScope } from './test/mutation/scopes.mjs';

const scope = currentScope();

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  mutate: scope.mutate,
  coverageAnalysis: 'perTest',
  // Two cores, and the tests start Redis servers of their own.
  concurrency: 2,
  incremental: true,
  incrementalFile: `reports/mutation/incremental-${scope.name}.json`,
  // A mutant that makes a test wait (a retry never scheduled, a timeout never hit) is a timeout,
  // which counts as detected; the limit is the unmutated test's time x factor + this. Kept short:
  // a receiver's tests answer in milliseconds, and every hung mutant costs this much.
  timeoutMS: 5_000,
  timeoutFactor: 1.5,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${scope.name}.html` },
  jsonReporter: { fileName: `reports/mutation/${scope.name}.json` },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true },
  thresholds: { high: 90, low: 85, break: null },
  // One directory per scope, so two scopes can run at once.
  tempDirName: `.stryker-tmp/${scope.name}`,
  ignorePatterns: ['dist', 'data', 'reports', 'docs', 'coverage', '.stryker-tmp', 'stryker-setup-*.js'],
  cleanTempDir: 'always',
};
