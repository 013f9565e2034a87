/**
 * Worker processes for crash tests: the config written to a file, `node dist/workers/main.js
 * --config FILE` started (the compiled JS, built by test/global-setup.ts), and a delivery harness
 * on the same Redis prefix to add jobs and look at them. Everything is stopped after the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { parseTestConfig, type TestConfigOptions } from './config.js';
import { deliveryConfigObject, deliveryHarness, type DeliveryHarness } from './delivery.js';
import type { TestRedis } from './redis.js';

const WORKER_ENTRY = 'dist/workers/main.js';

export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  /** When the process exited (Date.now()), once it has. */
  readonly exitedAt: () => number | undefined;
  /** Resolves once the process has written `text` (its logs are JSON lines on stdout). */
  readonly printed: (text: string) => Promise<void>;
}

/** Call at the top level of a test file. */
export function workerProcesses(redis: TestRedis) {
  const directory = mkdtempSync(join(tmpdir(), 'zego-relay-workers-'));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  return {
    /** The config written to a file for worker processes, and a harness on the same prefix. */
    async setup(options: TestConfigOptions): Promise<{ file: string; relay: DeliveryHarness }> {
      const input = deliveryConfigObject(options);
      const file = join(directory, `${(input.redis as { prefix: string }).prefix}.yaml`);
      writeFileSync(file, JSON.stringify(input));
      const relay = await deliveryHarness(parseTestConfig(input, file));
      redis.cleanup(() => relay.close());
      return { file, relay };
    },

    /** Starts `node dist/workers/main.js --config FILE` (with `env` on top of ours) and resolves once its workers are up. */
    async start(file: string, env: Record<string, string> = {}): Promise<WorkerProcess> {
      const child = spawn(process.execPath, [WORKER_ENTRY, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
      let exitedAt: number | undefined;
      const exited = new Promise<number | null>((resolve) =>
        child.once('exit', (code) => {
          exitedAt = Date.now();
          resolve(code);
        }),
      );
      redis.cleanup(async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
      });
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const printed = (text: string) => expect.poll(() => output, { timeout: 10_000 }).toContain(text).then(() => {});
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`worker process did not start:\n${output}`)), 15_000);
        child.stdout!.on('data', () => {
          if (output.includes('delivery workers started')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once('exit', (code) => reject(new Error(`worker process exited with ${code}:\n${output}`)));
      });
      return { child, exited, exitedAt: () => exitedAt, printed };
    },
  };
}
