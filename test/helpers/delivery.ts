/**
 * A delivery test harness: the test config (config.ts) with targets that retry every 30 ms unless
 * they say otherwise, queues to add jobs exactly as the router does (deliveryJobOptions), and the
 * delivery workers in this process.
 */
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { pino } from 'pino';
import type { RelayConfig } from '../../src/config/load.js';
import { deliveryJobOptions } from '../../workers/route/job-options.js';
import { silentLogger, type Logger } from '../../src/lib/logger.js';
import { openQueues } from '../../src/redis/queues.js';
import type { DeliveryJobData } from '../../src/shared/names.js';
import { startWorkers, type WorkersHandle } from '../../workers/role.js';
import { APP_ID, parseTestConfig, testConfigObject, type TestConfigOptions } from './config.js';
import type { TestRedis } from './redis.js';
import { startTargetServer, type TargetServer } from './targets.js';
import { createWorkerConnection, type RedisConnection } from '../../src/redis/connection.js';

/** The test config for delivery tests: a target retries every 30 ms, three times, unless it brings its own `retry`. */
export function deliveryConfigObject(options: TestConfigOptions): Record<string, unknown> {
  return testConfigObject({ schedule: [30, 30, 30], ...options });
}

/** A logger that keeps every line (parsed) for a test to look at. */
export function recordingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

/** A callback as the receiver would store it. */
export function callback(overrides: Partial<DeliveryJobData> = {}): DeliveryJobData {
  const callbackId = overrides.callbackId ?? `cb-${randomUUID()}`;
  return {
    callbackId,
    event: 'mix_stop',
    appId: APP_ID,
    body: JSON.stringify({ appid: APP_ID, event: 'mix_stop', seq: callbackId }),
    receivedAt: Date.now(),
    ...overrides,
  };
}

export interface DeliveryHarness {
  readonly config: RelayConfig;
  readonly connection: RedisConnection;
  queue(target: string): Queue<DeliveryJobData>;
  /** Adds a delivery job for `target` the way the router does. */
  enqueue(target: string, data?: DeliveryJobData): Promise<DeliveryJobData>;
  /** Starts the workers (in this process), logging to `logger` (default: nowhere). */
  startWorkers(logger?: Logger): Promise<WorkersHandle>;
  /** Polls the job until it reaches `state`. */
  waitForState(target: string, callbackId: string, state: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Opens the harness on `config`, or on deliveryConfigObject(options). */
export async function deliveryHarness(options: TestConfigOptions | RelayConfig): Promise<DeliveryHarness> {
  const config = 'source' in options ? options : parseTestConfig(deliveryConfigObject(options));
  const connection = createWorkerConnection(config.redis, 'test-harness');
  // Tests that kill Redis expect refused connections; ioredis retries on its own.
  connection.on('error', () => {});
  const queues = openQueues(config, connection);
  for (const opened of queues.values()) opened.on('error', () => {});
  const started: WorkersHandle[] = [];
  const queue = (target: string) => {
    const found = queues.get(target);
    if (!found) throw new Error(`no queue for ${target}`);
    return found;
  };
  return {
    config,
    connection,
    queue,
    async enqueue(targetName, data = callback()) {
      const target = config.targets.find((candidate) => candidate.name === targetName)!;
      await queue(targetName).add(data.event, data, deliveryJobOptions(target, config.retention, data.callbackId));
      return data;
    },
    async startWorkers(logger = silentLogger) {
      const handle = await startWorkers(config, { logger });
      started.push(handle);
      return handle;
    },
    async waitForState(target, callbackId, state, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      let current = '';
      while (Date.now() < deadline) {
        current = await queue(target).getJobState(callbackId);
        if (current === state) return;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      throw new Error(`job ${callbackId} of ${target} is ${current}, not ${state}, after ${timeoutMs} ms`);
    },
    async close() {
      await Promise.all(started.map((handle) => handle.close()));
      for (const opened of queues.values()) await opened.obliterate({ force: true }).catch(() => {});
      await Promise.all([...queues.values()].map((opened) => opened.close()));
      connection.disconnect();
    },
  };
}

/** Target servers and delivery harnesses that close themselves after the current test. */
export function deliveryFixtures(redis: TestRedis) {
  return {
    async target(...args: Parameters<typeof startTargetServer>): Promise<TargetServer> {
      const server = await startTargetServer(...args);
      redis.cleanup(() => server.close());
      return server;
    },
    async harness(options: Omit<TestConfigOptions, 'redisUrl'>): Promise<DeliveryHarness> {
      const opened = await deliveryHarness({ redisUrl: redis.url, ...options });
      redis.cleanup(() => opened.close());
      return opened;
    },
  };
}
