#!/usr/bin/env node
/**
 * `npm run test:mutation [-- scope ...] [-- --force]`: one Stryker run per scope (all of them
 * when none is named), then the mutation score of each scope on one line. Other `--` flags go to
 * Stryker (`--force` re-tests every mutant instead of only the changed ones).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SCOPES } from './scopes.mjs';

const args = process.argv.slice(2);
const flags = args.filter((arg) => arg.startsWith('--'));
const named = args.filter((arg) => !arg.startsWith('--'));
const unknown = named.filter((name) => !(name in SCOPES));
if (unknown.length > 0) {
  console.error(`unknown scope ${unknown.join(', ')}; scopes: ${Object.keys(SCOPES).join(', ')}`);
  process.exit(2);
}
const scopes = named.length > 0 ? named : Object.keys(SCOPES);

/** Killed and timed-out mutants count as detected; compile and runtime errors and ignored ones do not count. */
const DETECTED = new Set(['Killed', 'Timeout']);
const UNDETECTED = new Set(['Survived', 'NoCoverage']);

function score(scope) {
  const report = JSON.parse(readFileSync(`reports/mutation/${scope}.json`, 'utf8'));
  let detected = 0;
  let undetected = 0;
  for (const file of Object.values(report.files)) {
    for (const mutant of file.mutants) {
      if (DETECTED.has(mutant.status)) detected += 1;
      else if (UNDETECTED.has(mutant.status)) undetected += 1;
    }
  }
  const total = detected + undetected;
  return { detected, undetected, percent: total === 0 ? 100 : (100 * detected) / total };
}

/**
 * One redis-server for every mutant's run (test files use REDIS_URL when it is set, each on its own
 * key prefix): starting a server per test file per mutant would cost more than most mutants' tests.
 * Tests that kill or pause Redis start their own.
 */
async function startSharedRedis() {
  const port = await new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address();
      probe.close(() => resolve(free));
    });
  });
  const dir = mkdtempSync(join(tmpdir(), 'zego-relay-mutation-'));
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let tries = 0; ; tries += 1) {
    const up = await new Promise((resolve) => {
      const socket = createConnection(port, '127.0.0.1', () => { socket.end(); resolve(true); }).on('error', () => resolve(false));
    });
    if (up) break;
    if (tries > 100) throw new Error('redis-server did not start');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    stop() {
      server.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const shared = process.env.REDIS_URL ? undefined : await startSharedRedis();
const env = { ...process.env, ...(shared ? { REDIS_URL: shared.url } : {}) };
const lines = [];
/** Detected and undetected per folder, for folders split into several scopes. */
const folders = new Map();
let failed = false;
for (const scope of scopes) {
  const started = Date.now();
  const run = spawnSync('npx', ['stryker', 'run', 'stryker.config.mjs', ...flags], {
    stdio: 'inherit',
    env: { ...env, MUTATION_SCOPE: scope },
  });
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  if (run.status !== 0) {
    failed = true;
    lines.push(`${scope.padEnd(13)} Stryker failed (exit ${run.status}) after ${minutes} min`);
    continue;
  }
  const { detected, undetected, percent } = score(scope);
  lines.push(`${scope.padEnd(13)} ${percent.toFixed(2).padStart(6)}%  (${detected} detected, ${undetected} undetected) in ${minutes} min`);
  const folder = SCOPES[scope].folder;
  if (folder) {
    const sum = folders.get(folder) ?? { detected: 0, undetected: 0, scopes: [] };
    folders.set(folder, { detected: sum.detected + detected, undetected: sum.undetected + undetected, scopes: [...sum.scopes, scope] });
  }
}
for (const [folder, { detected, undetected, scopes: parts }] of folders) {
  if (parts.length < 2) continue;
  const percent = (100 * detected) / (detected + undetected);
  lines.push(`${folder.padEnd(13)} ${percent.toFixed(2).padStart(6)}%  (${detected} detected, ${undetected} undetected) = ${parts.join(' + ')}`);
}
shared?.stop();
console.log(`\nMutation score per scope (target >= 85%):\n${lines.join('\n')}`);
process.exit(failed ? 1 : 0);
