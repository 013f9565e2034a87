/**
 * Who may open Bull Board in a run of `start`, and what the start-up summary says about it: the
 * configured password (never printed), one generated per run in development mode on a loopback
 * admin listener (printed: nobody could log in otherwise), else off; the config is not changed.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig, type RelayConfig } from '../../src/config/load.js';
import { startBanner } from '../../src/roles/start-banner.js';
import { runAdminCredentials } from '../../src/admin/credentials.js';
import { testConfigObject } from '../helpers/config.js';

function config(options: { mode: 'development' | 'production'; password?: string; host?: string }): RelayConfig {
  const object = testConfigObject({ redisUrl: 'redis://127.0.0.1:6390', mode: options.mode, adminPassword: options.password });
  if (options.host) (object.admin as Record<string, unknown>).host = options.host;
  return parseConfig(JSON.stringify(object), { env: {}, source: 'test' });
}

const banner = (relayConfig: RelayConfig, credentials: ReturnType<typeof runAdminCredentials>) =>
  startBanner({ role: 'all', config: relayConfig, adminUrl: 'http://127.0.0.1:9090', credentials, receiverPort: 8080, privateRedis: false, redisDir: undefined });
const bannerLine = (relayConfig: RelayConfig, credentials: ReturnType<typeof runAdminCredentials>) =>
  banner(relayConfig, credentials).find((line) => line.startsWith('  bull board'));

describe('runAdminCredentials', () => {
  it('generates a fresh password per run in development mode on a loopback admin listener, without changing the config', () => {
    for (const host of ['127.0.0.1', 'localhost', '::1']) {
      const development = config({ mode: 'development', host });
      const first = runAdminCredentials(development);
      const second = runAdminCredentials(development);
      expect(first).toMatchObject({ username: 'ops', generated: true });
      expect(first!.password).toMatch(/^[A-Za-z0-9_-]{24}$/);
      expect(second!.password).not.toBe(first!.password);
      expect(development.admin.password).toBeUndefined();
      expect(bannerLine(development, first)).toBe(
        `  bull board http://127.0.0.1:9090/admin/queues  user ops  password ${first!.password}  (generated for this run; set ADMIN_PASSWORD to choose one)`,
      );
    }
  });

  it('stays off without a password in production or on an admin listener other machines reach', () => {
    for (const relayConfig of [config({ mode: 'production' }), config({ mode: 'development', host: '0.0.0.0' })]) {
      expect(runAdminCredentials(relayConfig)).toBeUndefined();
      expect(bannerLine(relayConfig, undefined)).toBe('  bull board off (set ADMIN_PASSWORD to turn it on)');
    }
  });

  it('uses admin.password when set, in either mode, and never prints it', () => {
    for (const mode of ['development', 'production'] as const) {
      const relayConfig = config({ mode, password: 'Configured-Pw-7731' });
      const credentials = runAdminCredentials(relayConfig, () => 'not-used');
      expect(credentials).toEqual({ username: 'ops', password: 'Configured-Pw-7731', generated: false });
      expect(banner(relayConfig, credentials).join('\n')).not.toContain('Configured-Pw-7731');
      expect(bannerLine(relayConfig, credentials)).toContain('user ops  password: admin.password (ADMIN_PASSWORD)');
    }
  });
});

describe('the start banner', () => {
  const withTargets = (mode: 'development' | 'production', secret: string) => {
    const object = testConfigObject({ redisUrl: 'redis://127.0.0.1:6390', mode, targets: [{ name: 'chat', url: 'https://hooks.example.com/webhooks/123456/Path-Token-9f?key=Query-Token-3c' }] });
    object.zego = { apps: [{ appId: '111111', callbackSecrets: [secret] }] };
    return parseConfig(JSON.stringify(object), { env: {}, source: 'test' });
  };

  it('never puts the callback secret on the try-it command line: simulate reads ZEGO_CALLBACK_SECRET', () => {
    const lines = banner(withTargets('production', 'Real-Callback-Secret-51'), undefined);
    const tryIt = lines.find((line) => line.startsWith('  try it'))!;
    expect(tryIt).toBe('  try it     npx zego-relay simulate --url http://127.0.0.1:8080/zego/callback --app-id 111111 --count 5  (the secret from $ZEGO_CALLBACK_SECRET, or --secret-file FILE)');
    expect(lines.join('\n')).not.toContain('Real-Callback-Secret-51');
    // The public development secret is spelled out, in the environment of the command.
    const development = banner(withTargets('development', 'zego-relay-dev-secret'), undefined).find((line) => line.startsWith('  try it'))!;
    expect(development).toBe('  try it     ZEGO_CALLBACK_SECRET=zego-relay-dev-secret npx zego-relay simulate --url http://127.0.0.1:8080/zego/callback --app-id 111111 --count 5');
  });

  it('shows a target URL as scheme, host and first path segment: no token of its path or query', () => {
    const lines = banner(withTargets('production', 'Real-Callback-Secret-51'), undefined);
    expect(lines).toContain('  targets    chat -> https://hooks.example.com/webhooks/***?***');
    expect(lines.join('\n')).not.toMatch(/123456|Path-Token|Query-Token/);
  });
});
