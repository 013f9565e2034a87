import { defineConfig } from 'vitest/config';
// @ts-expect-error: a plain ES module shared with stryker.config.mjs
import { currentScope } from './test/mutation/scopes.mjs';

/**
 * The vitest config of a mutation run (stryker.config.mjs): one project holding only the tests of
 * the scope being mutated (test/mutation/scopes.mjs), so each mutant's run stays short.
 * Not used by `npm test`.
 */
const scope = currentScope() as { tests: string[] };

export default defineConfig({
  test: {
    include: scope.tests,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default'],
  },
});
