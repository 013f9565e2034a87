/**
 * Compiles src, workers and bench once before any test file runs: the crash, chaos, start, CLI and
 * backlog tests spawn the compiled JS in dist/. Building here, not in each file, keeps one file's
 * build from rewriting dist/ while another file's child process is loading it.
 */
import { execFileSync } from 'node:child_process';

export default function buildOnce(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit', timeout: 180_000 });
}
