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
      'src/receive/{payload,validate,callback-id,url-encoding,signature,authenticate}.ts',
      'src/lib/raw-json.ts',
      'src/rejected/{digest,sample}.ts',
      'src/shared/events.ts',
    ],
    tests: [
      'test/unit/receive-payload.test.ts',
      'test/unit/receive-identity.test.ts',
      'test/unit/receive-rejections.test.ts',
      'test/unit/receive-validate.test.ts',
      'test/unit/signature.test.ts',
      'test/integration/receive-shapes.test.ts',
      'test/integration/fuzz-oracle.test.ts',
    ],
  },
  'receive-http': {
    folder: 'receive',
    mutate: ['src/receive/{app,callback-handler,book-outcome,server}.ts', 'src/http/{read-body,close-unread,error-middleware,health}.ts', 'src/rejected/rejections.ts'],
    tests: [
      'test/unit/receive-outcome.test.ts',
      'test/unit/receive-rejections.test.ts',
      'test/integration/receive.test.ts',
      'test/integration/receive-shapes.test.ts',
      'test/integration/receive-hardening.test.ts',
      'test/integration/receive-endless.test.ts',
      'test/integration/receive-end-to-end.test.ts',
      'test/integration/receive-http.test.ts',
      'test/unit/receive-body.test.ts',
      'test/unit/receive-validate.test.ts',
      'test/integration/error-middleware.test.ts',
      // The spool's wiring in server.ts and health.ts, and the POST span's end (book-outcome.ts).
      'test/integration/spool.test.ts',
      'test/integration/tracing.test.ts',
    ],
  },
  deliver: {
    mutate: ['workers/deliver/{outcome,backoff,sign,headers,attempt,decision}.ts'],
    // test/integration/deliver.test.ts and deliver-isolation.test.ts wait for real retries (seconds per test):
    // every mutant of attempt.ts would run them all. The attempt, its headers and its outcome are
    // covered by the faster files below; those two stay in `npm test`.
    tests: [
      'test/unit/backoff.test.ts',
      'test/unit/deliver-decision.test.ts',
      'test/unit/deliver-sign.test.ts',
      'test/unit/deliver-outcome.test.ts',
      'test/integration/deliver-attempt.test.ts',
      // The forced shutdown cuts requests through the attempt's handle (attempt.ts).
      'test/integration/deliver-shutdown.test.ts',
      'test/integration/receive-end-to-end.test.ts',
      'test/unit/trace-context.test.ts',
    ],
  },
  // What a delivery keeps in Redis besides its job: the breaker (the shared state and each worker
  // process's view of it), the attempt record in the job's data, and replaying dead letters. Their
  // fast tests only: test/integration/breaker.test.ts waits for real retries through real workers (seconds per
  // test) and stays in `npm test`.
  'deliver-state': {
    mutate: ['workers/deliver/{breaker,progress}.ts', 'src/targets/{breaker-store,replay}.ts'],
    tests: [
      'test/integration/breaker-store.test.ts',
      'test/unit/deliver-progress.test.ts',
      'test/integration/replay.test.ts',
      'test/integration/deliver-shutdown.test.ts',
    ],
  },
  // The router and the delivery worker: the code that moves acknowledged callbacks, where a bug
  // loses or doubles deliveries. Their tests start real routers and workers on a real Redis and a
  // real HTTP target (a second or two each); each mutant runs only the tests that cover it.
  router: {
    mutate: ['workers/route/router.ts'],
    tests: [
      'test/integration/router.test.ts',
      'test/integration/router-loop.test.ts',
      'test/integration/router-heal.test.ts',
      'test/integration/first-attempts.test.ts',
      'test/integration/unrouted.test.ts',
      // The ordered chain (a key's next delivery attempted in the batch) and the spans the router opens.
      'test/integration/ordered-chain.test.ts',
      'test/integration/tracing.test.ts',
    ],
  },
  worker: {
    mutate: ['workers/deliver/worker.ts'],
    tests: [
      'test/integration/deliver-worker.test.ts',
      'test/integration/deliver.test.ts',
      'test/integration/deliver-shutdown.test.ts',
      'test/integration/breaker.test.ts',
      'test/integration/ordering.test.ts',
    ],
  },
  route: {
    mutate: ['src/targets/match.ts', 'workers/route/intake-entry.ts'],
    tests: ['test/unit/route.test.ts', 'test/unit/intake-entry.test.ts', 'test/integration/router.test.ts', 'test/unit/trace-context.test.ts'],
  },
  config: {
    mutate: ['src/config/**/*.ts'],
    // config-security.test.ts is in the system tier for its two CLI tests, skipped here.
    tests: ['test/unit/config.test.ts', 'test/unit/config-details.test.ts', 'test/unit/config-redis.test.ts', 'test/system/config-security.test.ts', 'test/unit/trace-context.test.ts'],
  },
  intake: {
    mutate: ['src/intake/{callback-store,script,call}.ts', 'src/shared/names.ts'],
    // The outage tests (seconds each) belong here: answering 503 in time is the store's deadline.
    tests: [
      'test/unit/intake-entry.test.ts',
      'test/unit/intake-verdict.test.ts',
      'test/integration/store.test.ts',
      'test/integration/wait-replicas.test.ts',
      'test/integration/store-connection.test.ts',
      'test/integration/receive.test.ts',
      'test/integration/receive-outage.test.ts',
      'test/integration/fuzz-oracle.test.ts',
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
