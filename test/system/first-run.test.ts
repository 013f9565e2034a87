/**
 * The first five minutes, as `npm ci && npm start` gives them: `zego-relay start` in development
 * mode with no admin.password prints a Bull Board login generated for this run; the banner's own
 * `simulate` command sends five callbacks to the demo sink; a real Chromium logs in with the
 * printed login, sees the demo queue and reads each delivery's body as JSON (`task_id` a key, not
 * inside an escaped string). With WRITE_SCREENSHOTS=1 it writes docs/img/bull-board.png, the
 * README's screenshot. Logs stay JSON lines, since stdout is a pipe here.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEVELOPMENT_SECRET } from '../../src/config/load.js';
import { redisSettingsForUrl } from '../../src/config/redis-topology.js';
import { redisAnswers } from '../../src/dev/private-redis.js';
import { freePort } from '../../src/dev/redis-process.js';
import { chromiumAvailable, openBrowser } from '../helpers/chromium.js';
import { runCli, spawnCli, type CliProcess } from '../helpers/cli.js';
import { shutdownRedis } from '../helpers/redis.js';
import { testConfigObject } from '../helpers/config.js';

const SCREENSHOT = fileURLToPath(new URL('../../docs/img/bull-board.png', import.meta.url));

const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** config/relay.yaml's development setup on free ports: the demo target is the admin listener's sink. */
async function developmentWorkspace() {
  const dir = mkdtempSync(join(tmpdir(), 'zego-relay-first-run-'));
  dirs.push(dir);
  const [redisPort, adminPort] = [await freePort(), await freePort()];
  const config = testConfigObject({ redisUrl: `redis://127.0.0.1:${redisPort}`, mode: 'development', adminPort });
  config.admin = { host: '127.0.0.1', port: adminPort };
  config.redis = { url: `redis://127.0.0.1:${redisPort}`, prefix: 'zego-relay' };
  config.zego = { apps: [{ appId: '111111', callbackSecrets: [DEVELOPMENT_SECRET] }] };
  config.targets = [{ name: 'demo', url: `http://127.0.0.1:${adminPort}/demo/sink`, events: ['*'], timeout: '5s', retry: { schedule: ['1s', '5s', '30s'], jitter: 0.1 }, directFirstAttempt: false }];
  writeFileSync(join(dir, 'relay.yaml'), JSON.stringify(config, null, 2));
  return { dir, redisUrl: `redis://127.0.0.1:${redisPort}` };
}

/** The Bull Board line of the banner: URL, user and password. */
function bullBoardLogin(banner: string) {
  const match = /bull board +(http\S+) +user (\S+) +password (\S+) +\(generated for this run/.exec(banner);
  expect(match, `no generated Bull Board login in the banner:\n${banner}`).not.toBeNull();
  return { url: match![1]!, username: match![2]!, password: match![3]! };
}

const basic = (username: string, password: string) => `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

describe('npm start in development mode without admin.password', () => {
  let relay: CliProcess;
  let redisUrl = '';
  let login: { url: string; username: string; password: string };

  beforeAll(async () => {
    const workspace = await developmentWorkspace();
    redisUrl = workspace.redisUrl;
    relay = spawnCli(['start', '--config', 'relay.yaml'], { cwd: workspace.dir, timeoutMs: 120_000 });
    await relay.waitFor(/try it /);
    login = bullBoardLogin(relay.output.stderr);
  });
  afterAll(async () => {
    relay?.child.kill('SIGKILL');
    // The private Redis runs in its own process group, holding the relay's output pipes open:
    // stop it before waiting for the relay's output to end.
    if (redisUrl && (await redisAnswers(redisSettingsForUrl(redisUrl)))) await shutdownRedis(redisUrl);
    await relay?.exited;
  });

  it('prints a Bull Board login that works; the banner simulate command reaches the demo sink', async () => {
    expect(login.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/admin\/queues$/);
    expect(login.username).toBe('admin');
    expect(login.password.length).toBeGreaterThanOrEqual(20);
    expect((await fetch(login.url)).status).toBe(401);
    expect((await fetch(login.url, { headers: { authorization: basic(login.username, 'wrong') } })).status).toBe(401);
    expect((await fetch(login.url, { headers: { authorization: basic(login.username, login.password) } })).status).toBe(200);

    // The banner's own command, as a new user pastes it: the secret in the environment, not in argv.
    const [, secret, command] = /try it +ZEGO_CALLBACK_SECRET=(\S+) npx zego-relay (simulate .+)$/m.exec(relay.output.stderr)!;
    const simulate = await runCli(command!.split(' '), { env: { ZEGO_CALLBACK_SECRET: secret! } });
    expect(simulate.code, simulate.stderr).toBe(0);
    expect(simulate.stdout).toMatch(/acknowledged: +5\b/);
    await expect.poll(() => relay.output.stdout.split('"msg":"demo sink received a delivery"').length - 1, { timeout: 15_000 }).toBe(5);
  });

  it.skipIf(!chromiumAvailable)('logs in with it in Chromium, sees the demo queue and each body as JSON', async () => {
    const browser = await openBrowser({ username: login.username, password: login.password });
    try {
      const { page } = browser;
      expect((await page.goto(login.url))?.status()).toBe(200);
      await expect.poll(() => page.locator('body').innerText(), { timeout: 15_000 }).toContain('deliver-demo');

      await page.goto(`${login.url}/queue/deliver-demo?status=completed`);
      await expect.poll(() => page.locator('body').innerText(), { timeout: 15_000 }).toContain('mix_stop → demo · attempts 1/4');
      const text = await page.locator('body').innerText();
      // Bull Board's data tab is a JSON tree: a key of the body is a line of its own, `task_id:"111111:…"`.
      expect(text.match(/^task_id:\s*"111111:[^"]+",?$/gm) ?? [], text).toHaveLength(5);
      expect(text).toMatch(/^target:\s*"demo",?$/m);
      expect(text).not.toContain('\\"task_id\\"');
      if (process.env.WRITE_SCREENSHOTS === '1') await page.screenshot({ path: SCREENSHOT });
    } finally {
      await browser.close();
    }
  }, 60_000);

  it('stops cleanly; its logs were JSON lines (stdout is no terminal) without the generated password', async () => {
    relay.child.kill('SIGTERM');
    const { code, stdout } = await relay.exited;
    expect(code).toBe(0);
    expect(await redisAnswers(redisSettingsForUrl(redisUrl))).toBe(false);
    for (const line of stdout.trim().split('\n')) expect(() => JSON.parse(line), line).not.toThrow();
    expect(stdout).toContain('"msg":"zego-relay stopped"');
    expect(stdout, 'the generated password reached the logs').not.toContain(login.password);
  });
});
