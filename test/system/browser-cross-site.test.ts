/**
 * Cross-site request forgery against the admin listener, in a real headless Chromium: the
 * operator has logged in to Bull Board (basic auth, cached by the browser), then opens a page
 * served from another 127.0.0.1 port that submits a form to Bull Board's add-job endpoint. The
 * admin listener refuses it and no job is added. A same-origin request from Bull Board's own page
 * still works. A page of another site cannot show Bull Board in a frame (clickjacking).
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { Queue } from 'bullmq';
import { startAdmin, type AdminHandle } from '../../src/admin/listener.js';
import { silentLogger } from '../../src/lib/logger.js';
import { queueOptions } from '../../src/redis/queues.js';
import { deliveryQueueName } from '../../src/shared/names.js';
import { CHROMIUM, CHROMIUM_ARGS, chromiumAvailable } from '../helpers/chromium.js';
import { useTestRedis } from '../helpers/redis.js';
import { testConfig } from '../helpers/config.js';

const PASSWORD = 'csrf-browser-Test-Pw-2c8';

describe.skipIf(!chromiumAvailable)('a cross-site form in Chromium', () => {
  const redis = useTestRedis();
  let admin: AdminHandle | undefined;
  let browser: Browser | undefined;
  /** The attacker's page, on another port: it posts a form to the admin listener as it loads. */
  const attacker = createServer((_request, response) => {
    const action = `${admin!.url}/admin/queues/api/queues/deliver-billing/add`;
    response.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html>
<form id="forge" method="POST" action="${action}">
  <input name="name" value="forged"><input name="data" value='{"callbackId":"cb_forged","event":"mix_stop","appId":"424242","body":"{}"}'>
</form>
<script>document.getElementById('forge').submit();</script>`);
  });

  /** Another page of the attacker's: Bull Board in a frame, to trick a click (clickjacking). */
  const framer = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><iframe id="board" src="${admin!.url}/admin/queues" width="800" height="600"></iframe>`);
  });

  beforeAll(async () => {
    attacker.listen(0, '127.0.0.1');
    framer.listen(0, '127.0.0.1');
    await Promise.all([once(attacker, 'listening'), once(framer, 'listening')]);
  });
  afterAll(async () => {
    await browser?.close();
    await admin?.close();
    attacker.close();
    framer.close();
  });

  it('is refused with 403 by the cross-site guard and adds no job, while Bull Board itself can still change state', async () => {
    const config = testConfig({ redisUrl: redis.url, adminPassword: PASSWORD });
    admin = await startAdmin(config, { logger: silentLogger });
    const queue = new Queue(deliveryQueueName('billing'), queueOptions(config, deliveryQueueName('billing'), redis.inspector));
    redis.cleanup(() => queue.close());

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 20_000 });
    const context = await browser.newContext({ httpCredentials: { username: 'ops', password: PASSWORD } });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    // The operator's session: logged in to Bull Board.
    expect((await page.goto(`${admin.url}/admin/queues`))?.status()).toBe(200);

    const forged = page.waitForResponse((response) => response.url().endsWith('/deliver-billing/add'));
    await page.goto(`http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`);
    const answer = await forged;
    expect(answer.status()).toBe(403);
    // The cross-site guard's answer (Bull Board's own refusal of added jobs has another shape).
    expect(((await answer.json()) as { error: { code: string; message: string } }).error).toEqual({ code: 'forbidden', message: expect.stringContaining('cross-site') });
    expect(await queue.getJobCounts()).toMatchObject({ waiting: 0, delayed: 0, active: 0, completed: 0, failed: 0 });

    // Bull Board's own page (same origin; Chromium sends Origin and Sec-Fetch-Site: same-origin).
    await page.goto(`${admin.url}/admin/queues`);
    const status = await page.evaluate(async () => (await fetch('/admin/queues/api/queues/deliver-billing/pause', { method: 'PUT' })).status);
    expect(status).toBeLessThan(300);
    expect(await queue.isPaused()).toBe(true);
    await queue.resume();
  }, 60_000);

  it('cannot show Bull Board in a frame of another site, even to a logged-in operator', async () => {
    browser ??= await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 20_000 });
    const context = await browser.newContext({ httpCredentials: { username: 'ops', password: PASSWORD } });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    expect((await page.goto(`${admin!.url}/admin/queues`))?.status()).toBe(200);
    expect(await page.title()).toBe('zego-relay');

    const framed = page.waitForResponse((response) => response.url().endsWith('/admin/queues'));
    await page.goto(`http://127.0.0.1:${(framer.address() as AddressInfo).port}/`);
    expect((await framed).headers()['x-frame-options']).toBe('DENY');
    // Chromium replaces a refused frame with its error page: nothing of Bull Board is shown.
    const frame = () => page.frames().find((candidate) => candidate !== page.mainFrame());
    await expect.poll(() => frame()?.url()).toMatch(/^chrome-error:/);
    expect(await frame()!.content()).not.toContain('zego-relay');
    await context.close();
  }, 60_000);
});
