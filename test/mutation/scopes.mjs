/**
 * The folders `npm run test:mutation` mutates, each with the tests that can kill its mutants.
 * One Stryker run per scope: a scope's dry run only runs its own tests, and each mutant only the
 * tests that cover it (coverageAnalysis perTest). Tests are unit and integration ones: the system
 * tier (processes, a compiled dist/) cannot see a mutant made in the sandbox's sources.
 */
export const SCOPES = {
  // src/receive is two scopes, so each run stays under 20 minutes on 2 cores: the parsing and
  // checking code, killed by unit tests in milliseconds, and the HTTP side, whose tests each start
  // a receiver. `npm run test:mutation` also prints the score of the whole folder.
  'receive-parse': {
    folder: 'receive',
    mutate: [
      'src/receive/{raw-json,payload,validate,callback-id,url-encoding,signature,authenticate,rejection-digest,rejection-sample}.ts',
      'src/shared/events.ts',
    ],
    tests: [
      'test/receive-payload.test.ts',
      'test/receive-identity.test.ts',
      'test/receive-rejections.test.ts',
      'test/receive-validate.test.ts',
      'test/signature.test.ts',
      'test/receive-shapes.test.ts',
      'test/fuzz-oracle.test.ts',
    ],
  },
  'receive-http': {
    folder: 'receive',
    mutate: ['src/receive/{app,callback-handler,book-outcome,read-body,close-unread,error-middleware,health,rejections,server}.ts'],
    tests: [
      'test/receive-outcome.test.ts',
      'test/receive-rejections.test.ts',
      'test/receive.test.ts',
      'test/receive-shapes.test.ts',
      'test/receive-hardening.test.ts',
      'test/receive-endless.test.ts',
      'test/receive-end-to-end.test.ts',
      'test/receive-http.test.ts',
      'test/receive-body.test.ts',
      'test/receive-validate.test.ts',
    ],
  },
  deliver: {
    mutate: ['src/deliver/{outcome,backoff,sign,headers,attempt,decision}.ts'],
    // test/deliver.test.ts and deliver-isolation.test.ts wait for real retries (seconds per test):
    // every mutant of attempt.ts would run them all. The attempt, its headers and its outcome are
    // covered by the faster files below; those two stay in `npm test`.
    tests: [
      'test/backoff.test.ts',
      'test/deliver-decision.test.ts',
      'test/deliver-sign.test.ts',
      'test/deliver-outcome.test.ts',
      'test/deliver-attempt.test.ts',
      'test/receive-end-to-end.test.ts',
      'test/trace-context.test.ts',
    ],
  },
  // What a delivery keeps in Redis besides its job: the breaker (the shared state and each worker
  // process's view of it), the attempt record in the job's data, and replaying dead letters. Their
  // fast tests only: test/breaker.test.ts waits for real retries through real workers (seconds per
  // test) and stays in `npm test`.
  'deliver-state': {
    mutate: ['src/deliver/{breaker,breaker-store,progress,replay}.ts'],
    tests: [
      'test/breaker-store.test.ts',
      'test/deliver-progress.test.ts',
      'test/replay.test.ts',
      'test/deliver-shutdown.test.ts',
    ],
  },
  route: {
    mutate: ['src/route/{match,intake-entry}.ts'],
    tests: ['test/route.test.ts', 'test/intake-entry.test.ts', 'test/router.test.ts', 'test/trace-context.test.ts'],
  },
  config: {
    mutate: ['src/config/**/*.ts'],
    // config-security.test.ts is in the system tier for its two CLI tests, skipped here.
    tests: ['test/config.test.ts', 'test/config-details.test.ts', 'test/config-redis.test.ts', 'test/config-security.test.ts', 'test/trace-context.test.ts'],
  },
  store: {
    mutate: ['src/store/{callback-store,intake-script,intake-call}.ts', 'src/shared/names.ts'],
    // The outage tests (seconds each) belong here: answering 503 in time is the store's deadline.
    tests: [
      'test/intake-entry.test.ts',
      'test/intake-verdict.test.ts',
      'test/store.test.ts',
      'test/wait-replicas.test.ts',
      'test/store-connection.test.ts',
      'test/receive.test.ts',
      'test/receive-outage.test.ts',
      'test/fuzz-oracle.test.ts',
    ],
  },
};

/** The scope named by MUTATION_SCOPE (set by test/mutation/run.mjs). */
export function currentScope() {
  const name = process.env.MUTATION_SCOPE ?? '';
  const scope = SCOPES[name];
  if (!scope) throw new Error(`MUTATION_SCOPE must be one of ${Object.keys(SCOPES).join(', ')} (got "${name}")`);
  return { name, ...scope };
}
