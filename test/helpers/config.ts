/**
 * The one test configuration: what an operator would write (JSON is YAML), validated by the real
 * loader. Every listener on 127.0.0.1 (port 0 unless given), a fresh Redis key prefix, one app
 * with one secret, and targets that fail fast: a 2 s timeout and, unless a test asks for retries,
 * a single attempt.
 */
import { randomUUID } from 'node:crypto';
import { parseConfig, type RelayConfig } from '../../src/config/load.js';

/** The app every test callback comes from. */
export const APP_ID = '111111';
/** Its callback secret: strong enough for check-config's placeholder checks. */
export const SECRET = 'k7Qm2vX9pL4sT8wZr1Nc';
/** Nothing listens on port 9 (discard): a delivery there fails at once. */
export const UNUSED_TARGET_URL = 'http://127.0.0.1:9/unused';

export interface TargetInput {
  name: string;
  /** @defaultValue UNUSED_TARGET_URL */
  url?: string;
  /** @defaultValue every event */
  events?: readonly string[];
  appIds?: readonly string[];
  /** @defaultValue 2s */
  timeout?: number | string;
  concurrency?: number;
  signingSecret?: string | string[];
  headers?: Record<string, string>;
  rateLimit?: { max: number; duration: number | string };
  /** @defaultValue `schedule` of the options, no jitter */
  retry?: { schedule?: (number | string)[]; jitter?: number };
  breaker?: false | { openAfter?: number | string; minFailures?: number; probeInterval?: number | string };
  ordering?: { key: string[] };
  /** @defaultValue true (defaults.directFirstAttempt) */
  directFirstAttempt?: boolean;
}

export interface TestConfigOptions {
  /** One Redis; or give `redis` (url, cluster or sentinel, tls, waitReplicas) instead. */
  redisUrl?: string;
  redis?: Record<string, unknown>;
  /** @defaultValue a fresh `test-UUID` */
  prefix?: string;
  /** @defaultValue production */
  mode?: 'development' | 'production';
  /** Merged over `{ host: 127.0.0.1, port: serverPort }`. */
  server?: Record<string, unknown>;
  /** @defaultValue 0 */
  serverPort?: number;
  /** Bull Board's password (user `ops`); unset: Bull Board is off. */
  adminPassword?: string;
  readOnly?: boolean;
  /** @defaultValue 0 */
  adminPort?: number;
  /** Merged over the test app. */
  zego?: Record<string, unknown>;
  intake?: Record<string, unknown>;
  /** Merged over short lock, stall and shutdown times (2 s, 1 s, 2 s). */
  delivery?: Record<string, unknown>;
  retention?: Record<string, unknown>;
  /** @defaultValue one target `billing`, every event, at `targetUrl` */
  targets?: TargetInput[];
  /** The default target's URL. @defaultValue UNUSED_TARGET_URL */
  targetUrl?: string;
  /** The retry schedule of every target without a `retry` of its own. @defaultValue none: one attempt */
  schedule?: (number | string)[];
  /**
   * The receiver's outage spool. Off unless a test asks: tests run side by side from one working
   * directory, and the default `./data/spool` would be shared. @defaultValue false
   */
  spool?: false | { dir: string; maxBytes?: number | string };
}

/** The config as a plain object; JSON.stringify of it is a config file. */
export function testConfigObject(options: TestConfigOptions): Record<string, unknown> {
  const targets = options.targets ?? [{ name: 'billing', url: options.targetUrl ?? UNUSED_TARGET_URL }];
  return {
    mode: options.mode ?? 'production',
    server: { host: '127.0.0.1', port: options.serverPort ?? 0, ...options.server },
    admin: {
      host: '127.0.0.1',
      port: options.adminPort ?? 0,
      username: 'ops',
      ...(options.adminPassword ? { password: options.adminPassword } : {}),
      readOnly: options.readOnly ?? false,
    },
    redis: { ...(options.redis ?? { url: options.redisUrl }), prefix: options.prefix ?? `test-${randomUUID()}` },
    spool: options.spool ?? false,
    zego: { apps: [{ appId: APP_ID, callbackSecrets: [SECRET] }], ...options.zego },
    ...(options.intake ? { intake: options.intake } : {}),
    delivery: { lockDuration: '2s', stalledInterval: '1s', shutdownTimeout: '2s', ...options.delivery },
    ...(options.retention ? { retention: options.retention } : {}),
    targets: targets.map((target) => ({
      url: UNUSED_TARGET_URL,
      events: ['*'],
      timeout: '2s',
      retry: { schedule: options.schedule ?? [], jitter: 0 },
      ...target,
    })),
  };
}

/** The validated config (parseConfig, exactly as a file is loaded). */
export function testConfig(options: TestConfigOptions): RelayConfig {
  return parseTestConfig(testConfigObject(options));
}

/** Validates a config object (testConfigObject's, perhaps changed) the way a file is loaded. */
export function parseTestConfig(object: Record<string, unknown>, source = 'test'): RelayConfig {
  return parseConfig(JSON.stringify(object), { env: {}, source });
}
