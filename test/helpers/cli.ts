/**
 * Runs the compiled `zego-relay` command (bin/zego-relay.js -> dist/src/cli/main.js; `npm run
 * build` first) as a child process, the way operators and docker-compose run it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/zego-relay.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Killed (SIGKILL) after this long; the test then fails on the exit code. @defaultValue 20000 */
  timeoutMs?: number;
}

/** A running CLI process whose output is collected as it comes. */
export interface CliProcess {
  readonly child: ChildProcess;
  readonly output: { stdout: string; stderr: string };
  /** Resolves when the process exits. */
  readonly exited: Promise<CliResult>;
  /** Resolves once stdout+stderr match `pattern`; rejects after `timeoutMs` with the output so far. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

/** Starts `zego-relay ...args`. LOG_LEVEL and REDIS_URL are not inherited unless given in `env`. */
export function spawnCli(args: readonly string[], options: CliOptions = {}): CliProcess {
  const { REDIS_URL: _redis, LOG_LEVEL: _level, RELAY_CONFIG: _config, ...inherited } = process.env;
  const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd, env: { ...inherited, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  const listeners = new Set<() => void>();
  child.stdout!.on('data', (chunk: Buffer) => { output.stdout += chunk.toString(); listeners.forEach((listener) => listener()); });
  child.stderr!.on('data', (chunk: Buffer) => { output.stderr += chunk.toString(); listeners.forEach((listener) => listener()); });
  const killer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
  const exited = new Promise<CliResult>((resolve) => {
    child.once('close', (code) => {
      clearTimeout(killer);
      resolve({ code, ...output });
    });
  });
  return {
    child,
    output,
    exited,
    waitFor(pattern, timeoutMs = 15_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!pattern.test(output.stdout + output.stderr)) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${pattern}; output so far:\n${output.stdout}\n${output.stderr}`));
        }, timeoutMs);
        listeners.add(check);
        check();
        void exited.then(() => check());
      });
    },
  };
}

/** Runs `zego-relay ...args` to completion. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return spawnCli(args, options).exited;
}
