/**
 * Worker processes for crash tests: the config written to a file, `node dist/workers/main.js
 * --config FILE` started (the compiled JS, built by test/global-setup.ts), and a delivery bench on
 * the same Redis prefix to add jobs and look at them. Everything is stopped after the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { openDeliveryBench, testConfigInput, type BenchOptions, type DeliveryBench } from './delivery.js';
import type { TestRedis } from './redis.js';

const WORKER_ENTRY = 'dist/workers/main.js';

export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
}

/** Call at the top level of a test file. */
export function workerProcesses(redis: TestRedis) {
  const directory = mkdtempSync(join(tmpdir(), 'zego-relay-workers-'));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  return {
    /** The config written to a file for worker processes, and a bench on the same prefix. */
    async setup(options: BenchOptions): Promise<{ file: string; relay: DeliveryBench }> {
      const input = testConfigInput(options);
      const file = join(directory, `${(input.redis as { prefix: string }).prefix}.yaml`);
      writeFileSync(file, JSON.stringify(input));
      const relay = await openDeliveryBench(parseConfig(JSON.stringify(input), { env: {}, source: file }));
      redis.cleanup(() => relay.close());
      return { file, relay };
    },

    /** Starts `node dist/workers/main.js --config FILE` and resolves once its workers are up. */
    async start(file: string): Promise<WorkerProcess> {
      const child = spawn(process.execPath, [WORKER_ENTRY, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      redis.cleanup(async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
      });
      let output = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`worker process did not start:\n${output}`)), 15_000);
        child.stdout!.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('delivery workers started')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.once('exit', (code) => reject(new Error(`worker process exited with ${code}:\n${output}`)));
      });
      return { child, exited };
    },
  };
}
