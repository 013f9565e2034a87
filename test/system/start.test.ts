/**
 * `zego-relay start` as `npm start` runs it (development mode): with nothing answering at
 * redis.url it starts a private redis-server (AOF under ./data/redis), accepts and delivers a
 * callback, never logs a secret (even at debug level), stops cleanly on SIGTERM (Redis shut down
 * last); without redis-server on PATH it exits 1 saying how to get one. In production it never
 * starts one: it waits for the configured Redis and spools meanwhile.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { callbackFields, signedBody } from '../../src/cli/simulate-callbacks.js';
import { redisSettingsForUrl } from '../../src/config/redis-topology.js';
import { redisAnswers } from '../../src/dev/private-redis.js';
import { freePort } from '../../src/dev/redis-process.js';
import { spawnCli, runCli } from '../helpers/cli.js';
import { shutdownRedis } from '../helpers/redis.js';
import { APP_ID, SECRET, testConfigObject } from '../helpers/config.js';

const ADMIN_PASSWORD = 'AdminPw-5e3b1f0c9d';
const TARGET_TOKEN = 'TargetToken-a81c44f2';
const SIGNING_SECRET = 'whsec_U2lnbmluZ1NlY3JldEZvclRlc3RPZjI0Qnl0ZXM=';

const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A working directory with a config whose secrets come from the environment, like production. */
async function workspace(targetUrl: string, mode: 'development' | 'production' = 'development') {
  const dir = mkdtempSync(join(tmpdir(), 'zego-relay-start-'));
  dirs.push(dir);
  const redisPort = await freePort();
  // Production spools under the workspace while Redis is away (a relative dir: against the working directory).
  const config = testConfigObject({ redisUrl: `redis://127.0.0.1:${redisPort}`, targetUrl, adminPassword: '${ADMIN_PASSWORD}', mode, spool: mode === 'production' ? { dir: 'data/spool' } : false });
  config.zego = { apps: [{ appId: APP_ID, callbackSecrets: ['${ZEGO_CALLBACK_SECRET}'] }] };
  const [target] = config.targets as Record<string, unknown>[];
  config.targets = [{ ...target, headers: { Authorization: 'Bearer ${TARGET_TOKEN}' }, signingSecret: '${SIGNING_SECRET}' }];
  writeFileSync(join(dir, 'relay.yaml'), JSON.stringify(config, null, 2));
  return { dir, redisUrl: `redis://127.0.0.1:${redisPort}` };
}

const secretsEnv = { ZEGO_CALLBACK_SECRET: SECRET, ADMIN_PASSWORD, TARGET_TOKEN, SIGNING_SECRET };

describe('zego-relay start', () => {
  it('starts a private Redis when none answers, relays a callback, logs no secret and stops cleanly', async () => {
    const received: IncomingHttpHeaders[] = [];
    const target = createServer((request, response) => {
      received.push(request.headers);
      request.resume();
      request.on('end', () => response.writeHead(204).end());
    });
    target.listen(0, '127.0.0.1');
    await new Promise((resolve) => target.once('listening', resolve));
    const { dir, redisUrl } = await workspace(`http://127.0.0.1:${(target.address() as AddressInfo).port}/hook`);
    const relay = spawnCli(['start', '--config', 'relay.yaml'], { cwd: dir, env: { ...secretsEnv, LOG_LEVEL: 'debug' }, timeoutMs: 40_000 });
    try {
      await relay.waitFor(/try it /);
      expect(relay.output.stdout).toContain('started a private redis-server');
      expect(relay.output.stderr).toContain('private redis-server started by the relay');
      expect(await redisAnswers(redisSettingsForUrl(redisUrl))).toBe(true);
      const callbackUrl = /callbacks +POST (\S+)/.exec(relay.output.stderr)![1]!;

      const response = await fetch(callbackUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: signedBody(callbackFields('mix_stop', APP_ID, 'starttest', 0), SECRET),
      });
      expect(response.status).toBe(200);
      expect(((await response.json()) as { ok: boolean }).ok).toBe(true);
      await expect.poll(() => received.length, { timeout: 10_000 }).toBe(1);
      expect(received[0]!.authorization).toBe(`Bearer ${TARGET_TOKEN}`);
      expect(received[0]!['webhook-signature']).toMatch(/^v1,/);

      relay.child.kill('SIGTERM');
      const result = await relay.exited;
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('private redis-server stopped (AOF flushed)');
      expect(result.stdout).toContain('"msg":"zego-relay stopped"');
      expect(await redisAnswers(redisSettingsForUrl(redisUrl))).toBe(false);
      expect(existsSync(join(dir, 'data', 'redis', 'appendonlydir'))).toBe(true);

      const everything = result.stdout + result.stderr;
      for (const secret of [SECRET, ADMIN_PASSWORD, TARGET_TOKEN, SIGNING_SECRET, SIGNING_SECRET.slice(6)]) {
        expect(everything, 'a secret reached the output').not.toContain(secret);
      }
      for (const line of result.stdout.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
    } finally {
      relay.child.kill('SIGKILL');
      target.close();
      // Belt and braces: the private Redis runs in its own process group; never leave it behind.
      // It holds the relay's stderr open, so it goes first: the relay's output ends after it.
      if (await redisAnswers(redisSettingsForUrl(redisUrl))) await shutdownRedis(redisUrl);
      await relay.exited;
    }
  });

  it('in production, never starts a private Redis: it waits for the configured one and spools meanwhile', async () => {
    const { dir, redisUrl } = await workspace('http://127.0.0.1:9/unused', 'production');
    // The receiver role: the worker role would wait for Redis before the start-up summary.
    const relay = spawnCli(['start', '--role', 'receiver', '--config', 'relay.yaml'], { cwd: dir, env: secretsEnv, timeoutMs: 40_000 });
    try {
      await relay.waitFor(/running: role receiver/);
      expect(relay.output.stdout).toContain('Redis does not answer yet; the relay keeps trying');
      expect(relay.output.stdout).not.toContain('started a private redis-server');
      expect(await redisAnswers(redisSettingsForUrl(redisUrl))).toBe(false);
      expect(existsSync(join(dir, 'data', 'redis'))).toBe(false);
      const callbackUrl = /callbacks +POST (\S+)/.exec(relay.output.stderr)![1]!;
      const response = await fetch(callbackUrl, { method: 'POST', body: signedBody(callbackFields('mix_stop', APP_ID, 'production', 0), SECRET) });
      expect(await response.json()).toMatchObject({ ok: true, duplicate: false, spooled: true });
      expect(existsSync(join(dir, 'data', 'spool'))).toBe(true);
      relay.child.kill('SIGTERM');
      expect((await relay.exited).code).toBe(0);
    } finally {
      relay.child.kill('SIGKILL');
      if (await redisAnswers(redisSettingsForUrl(redisUrl))) await shutdownRedis(redisUrl);
      await relay.exited;
    }
  });

  it('exits 1 saying how to get Redis when none answers and redis-server is not on PATH', async () => {
    const { dir } = await workspace('http://127.0.0.1:9/unused');
    const result = await runCli(['start', '--config', 'relay.yaml'], { cwd: dir, env: { ...secretsEnv, PATH: '/nonexistent' } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no redis-server on PATH');
    expect(result.stderr).toContain('apt-get install redis-server');
    expect(result.stderr).toContain('brew install redis');
    expect(result.stderr).toContain('REDIS_URL=');
    expect(existsSync(join(dir, 'data', 'redis'))).toBe(false);
  });
});
