/**
 * Relay configurations for the operator-surface tests: every listener on 127.0.0.1 port 0 (or a
 * given port), the test's own Redis prefix, and a target URL of the test's choosing.
 */
import { randomUUID } from 'node:crypto';
import { parseConfig, type RelayConfig } from '../../src/config/load.js';

export const TEST_APP_ID = '424242';
/** A callback secret that passes check-config's placeholder checks. */
export const TEST_SECRET = 'k7Qm2vX9pL4sT8wZr1Nc';

export interface TestConfigOptions {
  redisUrl: string;
  targetUrl?: string;
  adminPassword?: string;
  mode?: 'development' | 'production';
  readOnly?: boolean;
  serverPort?: number;
  adminPort?: number;
  /** Retry schedule of the target; default: no retries. */
  schedule?: string[];
}

/** The config as a plain object (YAML is a superset of JSON, so JSON.stringify of it is a config file). */
export function testConfigObject(options: TestConfigOptions): Record<string, unknown> {
  return {
    mode: options.mode ?? 'production',
    server: { host: '127.0.0.1', port: options.serverPort ?? 0 },
    admin: {
      host: '127.0.0.1', port: options.adminPort ?? 0, username: 'ops',
      ...(options.adminPassword ? { password: options.adminPassword } : {}), readOnly: options.readOnly ?? false,
    },
    redis: { url: options.redisUrl, prefix: `test-${randomUUID()}` },
    zego: { apps: [{ appId: TEST_APP_ID, callbackSecrets: [TEST_SECRET] }] },
    delivery: { shutdownTimeout: '2s' },
    targets: [{ name: 'billing', url: options.targetUrl ?? 'http://127.0.0.1:9/unused', events: ['*'], timeout: '2s', retry: { schedule: options.schedule ?? [], jitter: 0 } }],
  };
}

export function testConfig(options: TestConfigOptions): RelayConfig {
  return parseConfig(JSON.stringify(testConfigObject(options)), { env: {}, source: 'test' });
}
