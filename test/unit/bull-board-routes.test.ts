/**
 * Bull Board's routes are internal to @bull-board/api: the contract test reads the installed
 * package's route table and fails when an upgrade changes it (then review src/admin/bull-board-routes.ts
 * and pin the new version). The decision table covers every write route and the spellings that
 * reached refused writes before (letter case, percent-encoding, doubled slashes, dot segments).
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BULL_BOARD_API, BULL_BOARD_PAGES, bullBoardDecision, normalisePath } from '../../src/admin/bull-board-routes.js';

const require = createRequire(import.meta.url);

describe('the contract with @bull-board/api', () => {
  const installed = require('@bull-board/api/dist/routes.js') as {
    appRoutes: { entryPoint: { method: string; route: string | string[] }; api: { method: string | string[]; route: string }[] };
  };

  it('pins @bull-board/api and @bull-board/koa to the exact installed versions', () => {
    const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
    for (const name of ['@bull-board/api', '@bull-board/koa']) {
      const installedManifest = new URL(`../../node_modules/${name}/package.json`, import.meta.url);
      const { version } = JSON.parse(readFileSync(installedManifest, 'utf8')) as { version: string };
      expect(manifest.dependencies[name], name).toBe(version);
    }
  });

  it('knows every API route Bull Board registers, in its order, and nothing more', () => {
    const routes = installed.appRoutes.api.flatMap(({ method, route }) => (Array.isArray(method) ? method : [method]).map((one) => `${one} ${route}`));
    expect(routes).toEqual(BULL_BOARD_API.map(({ method, route }) => `${method} ${route}`));
  });

  it('knows its UI pages, which only read', () => {
    expect(installed.appRoutes.entryPoint.method).toBe('get');
    expect(installed.appRoutes.entryPoint.route).toEqual(BULL_BOARD_PAGES);
  });
});

describe('which Bull Board requests may write', () => {
  const q = '/api/queues/deliver-billing';
  it.each([
    // Reads pass, whatever the path.
    ['GET', `${q}/cb_1`, 'read'],
    ['HEAD', '/api/queues', 'read'],
    ['OPTIONS', `${q}/add`, 'read'],
    // What an operator needs.
    ['PUT', `${q}/retry/failed`, 'allowed'],
    ['PUT', `${q}/promote`, 'allowed'],
    ['PUT', `${q}/pause`, 'allowed'],
    ['PUT', `${q}/resume`, 'allowed'],
    ['PUT', '/api/queues/pause', 'allowed'],
    ['PUT', '/api/queues/resume', 'allowed'],
    ['PUT', `${q}/cb_1/promote`, 'allowed'],
    ['PUT', `${q}/cb_1/retry`, 'failed-job'],
    // Everything else that writes.
    ['POST', `${q}/add`, 'refused'],
    ['PATCH', `${q}/cb_1/update-data`, 'refused'],
    ['PUT', `${q}/retry/completed`, 'refused'],
    ['PUT', `${q}/retry/FAILED`, 'refused'],
    ['PUT', `${q}/clean/failed`, 'refused'],
    ['PUT', `${q}/clean/completed`, 'refused'],
    ['PUT', `${q}/cb_1/clean`, 'refused'],
    ['PUT', `${q}/empty`, 'refused'],
    ['PUT', `${q}/obliterate`, 'refused'],
    ['PUT', `${q}/concurrency`, 'refused'],
    ['PUT', `${q}/rate-limit`, 'refused'],
    ['PUT', `${q}/rate-limit/release`, 'refused'],
    ['PUT', `${q}/job-schedulers/s/remove`, 'refused'],
    ['PATCH', `${q}/job-schedulers/s`, 'refused'],
    ['PUT', `${q}/job-schedulers/s/run`, 'refused'],
    ['PATCH', `${q}/cb_1/delay`, 'refused'],
    ['PATCH', `${q}/cb_1/priority`, 'refused'],
    ['PUT', `${q}/cb_1/remove-unprocessed-children`, 'refused'],
    ['DELETE', `${q}/cb_1`, 'refused'],
    ['POST', '/api/metrics/history/purge', 'refused'],
    ['PUT', `${q}/nothing-here`, 'refused'],
    ['PROPFIND', `${q}/pause`, 'refused'],
    // Other spellings of refused writes.
    ['POST', '/API/queues/deliver-billing/add', 'refused'],
    ['POST', `${q}/ADD`, 'refused'],
    ['PATCH', `${q}/cb_1/Update-Data`, 'refused'],
    ['PUT', `${q}/EMPTY`, 'refused'],
    ['PUT', `${q}/%65mpty`, 'refused'],
    ['PUT', `${q}/%2565mpty`, 'refused'],
    ['PUT', `${q}//empty`, 'refused'],
    ['PUT', `${q}/empty/`, 'refused'],
    ['PUT', `${q}/./empty`, 'refused'],
    ['PUT', `${q}/x/../empty`, 'refused'],
    ['PUT', `${q}/x%2F..%2Fempty`, 'refused'],
    ['PUT', `${q}\\empty`, 'refused'],
    // An allowed write's spelling that Bull Board's router would read as another (refused) route.
    ['PUT', '/api/queues/pause/clean/..', 'refused'],
    ['PUT', `${q}/retry/retry`, 'refused'],
    ['PUT', `${q}/pause/..`, 'refused'],
    ['PUT', `${q}/Pause`, 'allowed'],
  ])('%s %s: %s', (method, path, kind) => {
    expect(bullBoardDecision(method, path).kind).toBe(kind);
  });

  it('names the job a retry would re-deliver, as Bull Board decodes it', () => {
    expect(bullBoardDecision('PUT', '/api/queues/deliver-billing/cb%5F1/retry')).toEqual({ kind: 'failed-job', queueName: 'deliver-billing', jobId: 'cb_1' });
  });

  it('normalises a path the way a forger would disguise it', () => {
    expect(normalisePath('/A//b/./c/../%2564%2F')).toBe('/a/b/d');
    expect(normalisePath('/a/%zz')).toBe('/a/%zz');
    expect(normalisePath('/../..')).toBe('/');
  });
});
