/**
 * No Redis credential ever reaches a log line or the CLI's output. A real redis-server with
 * `requirepass` and an ACL user refuses the relay (wrong password; a user disabled while the relay
 * runs), the relay reconnects and logs the refusals, and every line it printed is searched for
 * the passwords and the user name. ioredis puts AUTH's arguments on the error it emits.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, spawnCli, type CliProcess } from '../helpers/cli.js';
import { startRedisServer, type RedisServer } from '../helpers/redis.js';
import { testConfigObject } from '../helpers/config.js';

const REQUIREPASS = 'Requirepass-Secret-4f9c1a';
const ACL_USER = 'acl-user-Name-73be';
const ACL_PASSWORD = 'Acl-User-Secret-8d2e7b';
const WRONG_PASSWORD = 'Wrong-Password-Guess-61aa';
const SECRETS = [REQUIREPASS, ACL_USER, ACL_PASSWORD, WRONG_PASSWORD];

let server: RedisServer;
let admin: Redis;
let configPath: string;
const dir = mkdtempSync(join(tmpdir(), 'zego-relay-credentials-'));

beforeAll(async () => {
  server = await startRedisServer();
  admin = new Redis(server.url);
  await admin.acl('SETUSER', ACL_USER, 'on', `>${ACL_PASSWORD}`, '~*', '&*', '+@all');
  // This connection stays authenticated; every new one must AUTH.
  await admin.config('SET', 'requirepass', REQUIREPASS);
  configPath = join(dir, 'relay.yaml');
  writeFileSync(configPath, JSON.stringify(testConfigObject({ redisUrl: 'redis://set-by-REDIS_URL', adminPassword: 'admin-Password-Strong-5c' })));
});
afterAll(async () => {
  admin?.disconnect();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const urlWith = (userInfo: string) => `redis://${userInfo}@127.0.0.1:${server.port}`;

/** `start --role all` at debug level, so every line any part logs is printed. */
function startRelay(redisUrl: string): CliProcess {
  return spawnCli(['start', '--config', configPath], { env: { REDIS_URL: redisUrl, LOG_LEVEL: 'debug' }, timeoutMs: 40_000 });
}

/**
 * Waits until the relay has logged `count` refusals (it keeps reconnecting), runs `before`, then
 * stops it (SIGTERM: the shutdown's lines are searched too).
 */
async function refusalsThenStop(relay: CliProcess, count: number, before: () => Promise<unknown> = async () => {}): Promise<string> {
  await expect.poll(() => (relay.output.stdout.match(/WRONGPASS/g) ?? []).length, { timeout: 20_000 }).toBeGreaterThanOrEqual(count);
  await before();
  relay.child.kill('SIGTERM');
  const result = await relay.exited;
  return result.stdout + result.stderr;
}

function expectNoSecret(output: string): void {
  for (const secret of SECRETS) expect(output, `the output contains ${secret}`).not.toContain(secret);
}

describe('Redis credentials', () => {
  it('stay out of the logs while Redis refuses a wrong password, and out of replay and check-config', async () => {
    const relay = startRelay(urlWith(`:${WRONG_PASSWORD}`));
    const [output, replay, check] = await Promise.all([
      refusalsThenStop(relay, 6),
      runCli(['replay', '--target', 'billing', '--config', configPath], { env: { REDIS_URL: urlWith(`${ACL_USER}:${WRONG_PASSWORD}`) } }),
      runCli(['check-config', '--config', configPath], { env: { REDIS_URL: urlWith(`${ACL_USER}:${ACL_PASSWORD}`) } }),
    ]);
    expect(replay.code).toBe(1);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain(`redis: redis://127.0.0.1:${server.port}`);
    expectNoSecret(output);
    expectNoSecret(replay.stdout + replay.stderr);
    expectNoSecret(check.stdout + check.stderr);
  }, 60_000);

  it('stay out of the logs when an ACL user is disabled while the relay runs', async () => {
    const relay = startRelay(urlWith(`${ACL_USER}:${ACL_PASSWORD}`));
    await relay.waitFor(/zego-relay started/, 20_000);
    await admin.acl('SETUSER', ACL_USER, 'off');
    await admin.client('KILL', 'USER', ACL_USER);
    // Enabled again before the stop, so the workers can close cleanly instead of waiting it out.
    const output = await refusalsThenStop(relay, 6, async () => {
      await admin.acl('SETUSER', ACL_USER, 'on');
      await relay.waitFor(/Redis is reachable again/, 10_000);
    });
    // Errors are still logged, with what helps: the message and the command's name.
    expect(output).toMatch(/"command":"auth"|WRONGPASS/);
    expectNoSecret(output);
  }, 60_000);
});
