/**
 * The one place that knows Bull Board's HTTP routes, which are internal to @bull-board/api (its
 * `dist/routes.js`; the version is pinned exactly in package.json and test/unit/bull-board-routes.test.ts
 * fails when an upgrade changes the table). From them, which writes an operator may make:
 * retry a dead letter (one failed job, or every failed job of a queue), promote, pause and resume.
 * Every other write (add, update data, clean, empty, obliterate, remove, rate limit, concurrency,
 * job schedulers...) would edit or destroy callbacks the relay has acknowledged: refused.
 *
 * Bull Board's router matches the raw path ignoring letter case, so the decision is taken twice
 * and both must allow: on the raw path the way that router reads it, and on the path normalised
 * (percent-decoded, `\` as `/`, no empty, `.` or `..` segments, lower case). A write matching no
 * route at all is refused too: whatever the spelling, only the writes above pass.
 */

/** What a write to a route may do: never, always, only with `:queueStatus` = failed, only to a failed job. */
type Allowance = 'refused' | 'allowed' | 'failed-status' | 'failed-job';

interface Route {
  readonly method: 'get' | 'put' | 'post' | 'patch';
  readonly route: string;
  /** Absent for a read. */
  readonly write?: Allowance;
}

/** Bull Board's UI pages (`appRoutes.entryPoint` of @bull-board/api 9.10.1). */
export const BULL_BOARD_PAGES: readonly string[] = ['/', '/metrics-history', '/job-schedulers', '/queue/:queueName', '/queue/:queueName/:jobId'];

/** Bull Board's API routes in registration order (`appRoutes.api` of @bull-board/api 9.10.1). */
export const BULL_BOARD_API: readonly Route[] = [
  { method: 'get', route: '/api/redis/stats' },
  { method: 'get', route: '/api/queues' },
  { method: 'get', route: '/api/job-schedulers' },
  { method: 'get', route: '/api/queues/:queueName/metrics' },
  { method: 'get', route: '/api/queues/:queueName/default-job-options' },
  { method: 'get', route: '/api/queues/:queueName/workers' },
  { method: 'get', route: '/api/queues/:queueName/rate-limit' },
  { method: 'get', route: '/api/queues/:queueName/job-data-schema' },
  { method: 'put', route: '/api/queues/pause', write: 'allowed' },
  { method: 'put', route: '/api/queues/resume', write: 'allowed' },
  { method: 'get', route: '/api/queues/:queueName/:jobId/logs' },
  { method: 'get', route: '/api/queues/:queueName/:jobId/flow' },
  { method: 'get', route: '/api/queues/:queueName/:jobId' },
  { method: 'post', route: '/api/queues/:queueName/add', write: 'refused' },
  { method: 'put', route: '/api/queues/:queueName/retry/:queueStatus', write: 'failed-status' },
  { method: 'put', route: '/api/queues/:queueName/promote', write: 'allowed' },
  { method: 'put', route: '/api/queues/:queueName/clean/:queueStatus', write: 'refused' },
  { method: 'put', route: '/api/queues/:queueName/pause', write: 'allowed' },
  { method: 'put', route: '/api/queues/:queueName/resume', write: 'allowed' },
  { method: 'put', route: '/api/queues/:queueName/concurrency', write: 'refused' },
  { method: 'put', route: '/api/queues/:queueName/rate-limit', write: 'refused' },
  { method: 'put', route: '/api/queues/:queueName/rate-limit/release', write: 'refused' },
  { method: 'put', route: '/api/queues/:queueName/empty', write: 'refused' },
  { method: 'put', route: '/api/queues/:queueName/obliterate', write: 'refused' },
  { method: 'put', route: '/api/queues/:queueName/job-schedulers/:schedulerId/remove', write: 'refused' },
  { method: 'patch', route: '/api/queues/:queueName/job-schedulers/:schedulerId', write: 'refused' },
  { method: 'put', route: '/api/queues/:queueName/job-schedulers/:schedulerId/run', write: 'refused' },
  { method: 'put', route: '/api/queues/:queueName/:jobId/retry', write: 'failed-job' },
  { method: 'put', route: '/api/queues/:queueName/:jobId/clean', write: 'refused' },
  { method: 'put', route: '/api/queues/:queueName/:jobId/promote', write: 'allowed' },
  { method: 'patch', route: '/api/queues/:queueName/:jobId/update-data', write: 'refused' },
  { method: 'patch', route: '/api/queues/:queueName/:jobId/delay', write: 'refused' },
  { method: 'patch', route: '/api/queues/:queueName/:jobId/priority', write: 'refused' },
  { method: 'put', route: '/api/queues/:queueName/:jobId/remove-unprocessed-children', write: 'refused' },
];

/** What the guard decides about one request to Bull Board. */
export type BullBoardDecision =
  | { readonly kind: 'read' }
  | { readonly kind: 'allowed' }
  /** Allowed only if the job is a dead letter: the caller looks it up (a retry would re-deliver a delivered one). */
  | { readonly kind: 'failed-job'; readonly queueName: string; readonly jobId: string }
  | { readonly kind: 'refused' };

/** Methods that change nothing (Bull Board's reads, and OPTIONS, which only its router answers). */
const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

interface CompiledRoute extends Route {
  readonly pattern: RegExp;
  readonly params: readonly string[];
}

/** As Bull Board's router (@koa/router over path-to-regexp) reads a route: any case, no trailing slash. */
const COMPILED: readonly CompiledRoute[] = BULL_BOARD_API.map((route) => ({
  ...route,
  params: [...route.route.matchAll(/:(\w+)/g)].map((match) => match[1]!),
  pattern: new RegExp(`^${route.route.replace(/[.-]/g, '\\$&').replace(/:\w+/g, '([^/]+?)')}$`, 'i'),
}));

/**
 * The decision for `method` on `path`, relative to Bull Board's base path. Pure: the caller
 * checks a `failed-job` against Redis.
 */
export function bullBoardDecision(method: string, path: string): BullBoardDecision {
  if (READS.has(method)) return { kind: 'read' };
  const asRouted = matchesOf(method, path);
  const asNormalised = matchesOf(method, normalisePath(path));
  // A write both readings know as a route, and every route either finds allows it.
  if (asRouted.length === 0 || asNormalised.length === 0) return { kind: 'refused' };
  let retried: BullBoardDecision | undefined;
  for (const { route, params } of [...asRouted, ...asNormalised]) {
    if (route.write === 'allowed') continue;
    if (route.write === 'failed-status' && params.queueStatus === 'failed') continue;
    if (route.write !== 'failed-job') return { kind: 'refused' };
    // Bull Board runs the raw path's route with the raw path's parameters: look up that job.
    retried ??= { kind: 'failed-job', queueName: params.queueName!, jobId: params.jobId! };
  }
  return retried ?? { kind: 'allowed' };
}

/** Every route `method` and `path` match, with the parameters decoded as Bull Board decodes them. */
function matchesOf(method: string, path: string): { route: CompiledRoute; params: Record<string, string> }[] {
  const matches = [];
  for (const route of COMPILED) {
    if (route.method.toUpperCase() !== method) continue;
    const found = route.pattern.exec(path);
    if (!found) continue;
    const params = Object.fromEntries(route.params.map((name, index) => [name, decodeOnce(found[index + 1]!)]));
    matches.push({ route, params });
  }
  return matches;
}

/**
 * The path with every spelling trick undone: percent-decoded until nothing changes, `\` read as
 * `/`, empty, `.` and `..` segments resolved, in lower case.
 */
export function normalisePath(path: string): string {
  let decoded = path;
  for (let round = 0; round < 4; round += 1) {
    const next = decodeOnce(decoded);
    if (next === decoded) break;
    decoded = next;
  }
  const segments: string[] = [];
  for (const segment of decoded.replace(/\\/g, '/').split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  return `/${segments.join('/')}`.toLowerCase();
}

function decodeOnce(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
