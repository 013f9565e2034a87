/**
 * Bull Board in a real headless Chromium (Debian's /usr/bin/chromium via playwright-core): the
 * relay runs (receiver + workers + admin, real redis-server), a callback goes to a target that
 * answers 410 so its delivery is dead-lettered at once, and an operator logging in with basic
 * auth sees the target queues and that failed delivery, and a target paused through the admin
 * API shows as paused (Bull Board and the API read one switch). Skipped only when chromium is absent
 * outside CI; in CI (.ci/run installs it) it must run.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext } from 'playwright-core';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { callbackFields, signedBody } from '../src/cli/simulate-callbacks.js';
import { startAdmin, type AdminHandle } from '../src/ops/admin.js';
import { silentLogger } from '../src/ops/logger.js';
import { startReceiver, type ReceiverHandle } from '../src/receive/server.js';
import { deliveryQueueName } from '../src/store/queues.js';
import { startWorkers, type WorkersHandle } from '../workers/delivery.js';
import { sharedRedis } from './helpers/redis.js';
import { TEST_APP_ID, TEST_SECRET, testConfig } from './helpers/relay-config.js';

const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available && process.env.CI) throw new Error(`${CHROMIUM} is missing in CI: apt-get install -y chromium (.ci/run does)`);

const PASSWORD = 'browser-test-Pw-93f1';
const SCREENSHOT = '/tmp/zego-relay-bull-board.png';
const PAUSED_SCREENSHOT = '/tmp/zego-relay-bull-board-paused.png';

describe.skipIf(!available)('Bull Board in headless Chromium', () => {
  let redis: { url: string; stop: () => Promise<void> };
  let admin: AdminHandle | undefined;
  let receiver: ReceiverHandle | undefined;
  let workers: WorkersHandle | undefined;
  let context: BrowserContext | undefined;
  const gone = createServer((request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(410).end('gone'));
  });
  const profile = mkdtempSync(join(tmpdir(), 'zego-relay-chromium-'));

  beforeAll(async () => {
    redis = await sharedRedis();
    gone.listen(0, '127.0.0.1');
    await new Promise((resolve) => gone.once('listening', resolve));
  });
  afterAll(async () => {
    await context?.close();
    await workers?.close();
    await receiver?.close();
    await admin?.close();
    gone.close();
    await redis?.stop();
    rmSync(profile, { recursive: true, force: true });
  });

  it('logs in with basic auth and shows the target queues and the dead-lettered delivery', async () => {
    const config = testConfig({ redisUrl: redis.url, adminPassword: PASSWORD, targetUrl: `http://127.0.0.1:${(gone.address() as AddressInfo).port}/hook`, schedule: ['1s', '1s'] });
    admin = await startAdmin(config, { logger: silentLogger });
    receiver = await startReceiver(config, { logger: silentLogger });
    workers = await startWorkers(config, { logger: silentLogger });

    const answer = await fetch(`http://127.0.0.1:${receiver.port}/zego/callback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: signedBody(callbackFields('mix_stop', TEST_APP_ID, 'browser', 0), TEST_SECRET),
    });
    expect(answer.status).toBe(200);
    const { id } = (await answer.json()) as { id: string };

    // 410 is never retried: the delivery is a dead letter (a failed job) right after one attempt.
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(deliveryQueueName('billing'), { connection, prefix: config.redis.prefix });
    try {
      await expect.poll(() => queue.getJobCounts('failed').then((counts) => counts.failed), { timeout: 15_000 }).toBe(1);
      expect((await queue.getJob(id))?.attemptsMade).toBe(1);
    } finally {
      await queue.close();
      connection.disconnect();
    }

    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      httpCredentials: { username: 'ops', password: PASSWORD },
      viewport: { width: 1400, height: 900 },
      timeout: 20_000,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(15_000);

    const overview = await page.goto(`${admin.url}/admin/queues`);
    expect(overview?.status()).toBe(200);
    await expect.poll(() => page.locator('body').innerText(), { timeout: 15_000 }).toContain('deliver-billing');
    expect(await page.locator('body').innerText()).toContain('unrouted');

    await page.goto(`${admin.url}/admin/queues/queue/deliver-billing?status=failed`);
    await expect.poll(() => page.locator('body').innerText(), { timeout: 15_000 }).toContain(id);
    await expect.poll(() => page.locator('body').innerText(), { timeout: 15_000 }).toContain('410');
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  }, 60_000);

  it('shows a target paused through the admin API as paused, and resumed again', async () => {
    expect(admin && context).toBeTruthy();
    const page = context!.pages()[0]!;
    const authorization = `Basic ${Buffer.from(`ops:${PASSWORD}`).toString('base64')}`;
    await page.goto(`${admin!.url}/admin/queues`);
    await expect.poll(() => page.locator('body').innerText(), { timeout: 15_000 }).toContain('deliver-billing');
    expect(await page.locator('body').innerText()).not.toContain('Paused');

    const paused = await fetch(`${admin!.url}/admin/api/targets/billing/pause`, { method: 'POST', headers: { authorization } });
    expect(paused.status).toBe(200);
    await page.reload();
    // Bull Board's queue list marks it: it reads the same switch (BullMQ's pause) the API set.
    await expect.poll(() => page.locator('body').innerText(), { timeout: 15_000 }).toMatch(/deliver-billing\s*\[ Paused \]/);
    await expect.poll(() => page.locator('body').innerText(), { timeout: 15_000 }).not.toContain('Loading');
    await page.screenshot({ path: PAUSED_SCREENSHOT, fullPage: true });

    const resumed = await fetch(`${admin!.url}/admin/api/targets/billing/resume`, { method: 'POST', headers: { authorization } });
    expect(resumed.status).toBe(200);
    await page.goto(`${admin!.url}/admin/queues`);
    await expect.poll(() => page.locator('body').innerText(), { timeout: 15_000 }).toContain('deliver-billing');
    expect(await page.locator('body').innerText()).not.toContain('Paused');
  }, 60_000);

  it('refuses a browser with a wrong password', async () => {
    expect(admin).toBeDefined();
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
    try {
      const wrong = await browser.newContext({ httpCredentials: { username: 'ops', password: 'not-the-password' } });
      const page = await wrong.newPage();
      const response = await page.goto(`${admin!.url}/admin/queues`);
      expect(response?.status()).toBe(401);
      expect(await page.locator('body').innerText()).not.toContain('deliver-billing');
    } finally {
      await browser.close();
    }
  }, 30_000);
});
