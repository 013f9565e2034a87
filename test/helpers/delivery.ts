/**
 * A delivery test bench: a config with the given targets on a private Redis key prefix, queues
 * to add jobs exactly as the receiver does (deliveryJobOptions), and the delivery workers.
 */
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { parseConfig, type RelayConfig } from '../../src/config/load.js';
import { deliveryJobOptions } from '../../src/deliver/job-options.js';
import { silentLogger, type Logger } from '../../src/ops/logger.js';
import { openQueues, type DeliveryJobData } from '../../src/store/queues.js';
import { startWorkers, type WorkersHandle } from '../../workers/delivery.js';
import type { TestRedis } from './redis.js';
import { startTargetServer, type TargetServer } from './targets.js';

export interface TargetInput {
  name: string;
  url: string;
  events?: string[];
  timeout?: number | string;
  concurrency?: number;
  signingSecret?: string | string[];
  headers?: Record<string, string>;
  rateLimit?: { max: number; duration: number | string };
  retry?: { schedule: (number | string)[]; jitter?: number };
  breaker?: false | { openAfter?: number | string; minFailures?: number; probeInterval?: number | string };
}

export interface BenchOptions {
  redisUrl: string;
  targets: TargetInput[];
  delivery?: Record<string, unknown>;
  retention?: Record<string, unknown>;
}

/** The config as an operator would write it (JSON is YAML), on its own `test-UUID` prefix. */
export function testConfigInput(options: BenchOptions): Record<string, unknown> {
  return {
    redis: { url: options.redisUrl, prefix: `test-${randomUUID()}` },
    zego: { apps: [{ appId: '111111', callbackSecrets: ['secret'] }] },
    delivery: { lockDuration: 2_000, stalledInterval: 1_000, shutdownTimeout: 2_000, ...options.delivery },
    ...(options.retention ? { retention: options.retention } : {}),
    targets: options.targets.map((target) => ({ events: ['*'], retry: { schedule: [30, 30, 30], jitter: 0 }, ...target })),
  };
}

/** A validated config (through parseConfig, like production). */
export function testConfig(options: BenchOptions): RelayConfig {
  return parseConfig(JSON.stringify(testConfigInput(options)), { env: {} });
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
    appId: '111111',
    body: JSON.stringify({ appid: '111111', event: 'mix_stop', seq: callbackId }),
    receivedAt: Date.now(),
    ...overrides,
  };
}

export interface DeliveryBench {
  readonly config: RelayConfig;
  readonly connection: Redis;
  queue(target: string): Queue<DeliveryJobData>;
  /** Adds a delivery job for `target` the way the receiver does. */
  enqueue(target: string, data?: DeliveryJobData): Promise<DeliveryJobData>;
  /** Starts the workers (in this process), logging to `logger` (default: nowhere). */
  startWorkers(logger?: Logger): Promise<WorkersHandle>;
  /** Polls the job until it reaches `state`. */
  waitForState(target: string, callbackId: string, state: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function openDeliveryBench(options: BenchOptions | RelayConfig): Promise<DeliveryBench> {
  const config = 'targets' in options && 'source' in options ? options : testConfig(options as BenchOptions);
  const connection = new Redis(config.redis.url, { maxRetriesPerRequest: null });
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

/** Target servers and delivery benches that close themselves after the current test. */
export function deliveryFixtures(redis: TestRedis) {
  return {
    async target(...args: Parameters<typeof startTargetServer>): Promise<TargetServer> {
      const server = await startTargetServer(...args);
      redis.cleanup(() => server.close());
      return server;
    },
    async bench(options: Omit<BenchOptions, 'redisUrl'>): Promise<DeliveryBench> {
      const opened = await openDeliveryBench({ redisUrl: redis.url, ...options });
      redis.cleanup(() => opened.close());
      return opened;
    },
  };
}
