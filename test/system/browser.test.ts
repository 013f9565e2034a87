/**
 * Bull Board in a real headless Chromium (Debian's /usr/bin/chromium via playwright-core): the
 * relay runs (receiver + workers + admin, real redis-server), a callback goes to a target that
 * answers 410 so its delivery is dead-lettered at once, and an operator logging in with basic
 * auth sees the target queues and that failed delivery, its body shown as JSON (a UInt64 with
 * every digit) while the target received exactly the bytes ZEGO sent; and a target paused through
 * the admin API shows as paused (Bull Board and the API read one switch). Skipped only when
 * chromium is absent outside CI; in CI (.ci/run installs it) it must run.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium } from 'playwright-core';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { callbackFields, jsonNumber, signedBody } from '../../src/cli/simulate-callbacks.js';
import { startAdmin, type AdminHandle } from '../../src/admin/listener.js';
import { silentLogger } from '../../src/lib/logger.js';
import { startReceiver, type ReceiverHandle } from '../../src/receive/server.js';
import { queueOptions } from '../../src/redis/queues.js';
import { deliveryQueueName } from '../../src/shared/names.js';
import { startWorkers, type WorkersHandle } from '../../workers/role.js';
import { CHROMIUM, CHROMIUM_ARGS, chromiumAvailable, openBrowser, type BrowserSession } from '../helpers/chromium.js';
import { useTestRedis } from '../helpers/redis.js';
import { APP_ID, SECRET, testConfig } from '../helpers/config.js';

const PASSWORD = 'browser-test-Pw-93f1';
const SCREENSHOT = '/tmp/zego-relay-bull-board.png';
/** Above 2^53: JSON.parse would make it 6085791336856669000. */
const UINT64 = '6085791336856668982';
const PAUSED_SCREENSHOT = '/tmp/zego-relay-bull-board-paused.png';

describe.skipIf(!chromiumAvailable)('Bull Board in headless Chromium', () => {
  const redis = useTestRedis();
  let admin: AdminHandle | undefined;
  let receiver: ReceiverHandle | undefined;
  let workers: WorkersHandle | undefined;
  let browser: BrowserSession | undefined;
  const delivered: Buffer[] = [];
  const gone = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      delivered.push(Buffer.concat(chunks));
      response.writeHead(410).end('gone');
    });
  });

  beforeAll(async () => {
    gone.listen(0, '127.0.0.1');
    await new Promise((resolve) => gone.once('listening', resolve));
  });
  afterAll(async () => {
    await browser?.close();
    await workers?.close();
    await receiver?.close();
    await admin?.close();
    gone.close();
  });

  it('logs in with basic auth and shows the target queues and the dead-lettered delivery, its body as JSON', async () => {
    const config = testConfig({ redisUrl: redis.url, adminPassword: PASSWORD, targetUrl: `http://127.0.0.1:${(gone.address() as AddressInfo).port}/hook`, schedule: ['1s', '1s'] });
    admin = await startAdmin(config, { logger: silentLogger });
    receiver = await startReceiver(config, { logger: silentLogger });
    workers = await startWorkers(config, { logger: silentLogger });

    // As ZEGO might write it: spaces after commas, a UInt64 number, non-ASCII text.
    const fields = { ...callbackFields('mix_stop', APP_ID, 'browser', 0), channel_id: 'salle-é-☃', room_session_id: jsonNumber(UINT64) };
    const sent = Buffer.from(signedBody(fields, SECRET).replaceAll(',"', ', "'), 'utf8');
    const answer = await fetch(`http://127.0.0.1:${receiver.port}/zego/callback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: sent,
    });
    expect(answer.status).toBe(200);
    const { id } = (await answer.json()) as { id: string };

    // 410 is never retried: the delivery is a dead letter (a failed job) right after one attempt.
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(deliveryQueueName('billing'), queueOptions(config, deliveryQueueName('billing'), connection));
    try {
      await expect.poll(() => queue.getJobCounts('failed').then((counts) => counts.failed), { timeout: 15_000 }).toBe(1);
      expect((await queue.getJob(id))?.attemptsMade).toBe(1);
    } finally {
      await queue.close();
      connection.disconnect();
    }

    expect(delivered).toHaveLength(1);
    expect(delivered[0]!.equals(sent), 'the target did not receive the bytes ZEGO sent').toBe(true);

    browser = await openBrowser({ username: 'ops', password: PASSWORD });
    const { page } = browser;

    const overview = await page.goto(`${admin.url}/admin/queues`);
    expect(overview?.status()).toBe(200);
    await expect.poll(() => page.locator('body').innerText(), { timeout: 15_000 }).toContain('deliver-billing');
    expect(await page.locator('body').innerText()).toContain('unrouted');

    await page.goto(`${admin.url}/admin/queues/queue/deliver-billing?status=failed`);
    await expect.poll(() => page.locator('body').innerText(), { timeout: 15_000 }).toContain(id);
    await expect.poll(() => page.locator('body').innerText(), { timeout: 15_000 }).toContain('410');
    await expect.poll(() => page.locator('body').innerText(), { timeout: 15_000 }).toContain('mix_stop → billing · attempts 1/3');
    await page.getByRole('tab', { name: 'Data', exact: true }).click();
    // Bull Board's data tab is a JSON tree: each key of the body is a line of its own.
    await expect.poll(() => page.locator('body').innerText(), { timeout: 15_000 }).toMatch(new RegExp(`^task_id:\\s*"${APP_ID}:browser-1",?$`, 'm'));
    const text = await page.locator('body').innerText();
    expect(text).toMatch(new RegExp(`^room_session_id:\\s*"${UINT64}",?$`, 'm'));
    expect(text).toMatch(/^channel_id:\s*"salle-é-☃",?$/m);
    expect(text).not.toContain('\\"task_id\\"');
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  }, 60_000);

  it('shows a target paused through the admin API as paused, and resumed again', async () => {
    expect(admin && browser).toBeTruthy();
    const { page } = browser!;
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
    const wrongBrowser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    try {
      const wrong = await wrongBrowser.newContext({ httpCredentials: { username: 'ops', password: 'not-the-password' } });
      const page = await wrong.newPage();
      const response = await page.goto(`${admin!.url}/admin/queues`);
      expect(response?.status()).toBe(401);
      expect(await page.locator('body').innerText()).not.toContain('deliver-billing');
    } finally {
      await wrongBrowser.close();
    }
  }, 30_000);
});
