/**
 * The admin listener refuses what a page on another site could make a logged-in browser send:
 * state-changing requests to Bull Board (and anywhere on the listener) and any request to the
 * admin API, when `Origin` or `Sec-Fetch-Site` shows another site. Same-origin pages and clients
 * that are no browser (no such headers) keep working. Real redis-server, real listener.
 */
import { request } from 'node:http';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayConfig } from '../../src/config/load.js';
import { startAdmin, type AdminHandle } from '../../src/admin/listener.js';
import { silentLogger } from '../../src/lib/logger.js';
import { queueOptions } from '../../src/redis/queues.js';
import { deliveryQueueName } from '../../src/shared/names.js';
import { useTestRedis } from '../helpers/redis.js';
import { testConfig } from '../helpers/config.js';

const PASSWORD = 'cross-site-Test-Pw-7b1';
const AUTH = `Basic ${Buffer.from(`ops:${PASSWORD}`).toString('base64')}`;
const ADD = '/admin/queues/api/queues/deliver-billing/add';
const PAUSE = '/admin/queues/api/queues/deliver-billing/pause';

const redis = useTestRedis();
let config: RelayConfig;
let admin: AdminHandle;
let queue: Queue;

beforeAll(async () => {
  config = testConfig({ redisUrl: redis.url, adminPassword: PASSWORD });
  admin = await startAdmin(config, { logger: silentLogger });
  queue = new Queue(deliveryQueueName('billing'), queueOptions(config, deliveryQueueName('billing'), redis.inspector));
});
afterAll(async () => {
  await queue?.close();
  await admin?.close();
});

/** A request with exactly these headers (fetch adds its own Sec-Fetch-Mode and may drop Origin). */
function send(method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(`${admin.url}${path}`, { method, headers: { authorization: AUTH, ...headers } }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

const form = 'name=forged&data=%7B%22callbackId%22%3A%22cb_forged%22%7D';
const formHeaders = { 'content-type': 'application/x-www-form-urlencoded' };
const jobCount = async () => Object.values(await queue.getJobCounts()).reduce((sum, count) => sum + count, 0);

describe('state-changing requests from another site', () => {
  it.each([
    ['an Origin of another site', { origin: 'http://evil.example' }],
    ['an Origin of another port of this host', { origin: 'http://127.0.0.1:1' }],
    ['Origin: null', { origin: 'null' }],
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
    ['Sec-Fetch-Site: same-site', { 'sec-fetch-site': 'same-site' }],
  ])('are refused with 403 and change nothing: %s', async (_name, headers) => {
    const response = await send('POST', ADD, { ...formHeaders, ...headers }, form);
    expect(response.status).toBe(403);
    expect(JSON.parse(response.body)).toEqual({ ok: false, error: { code: 'forbidden', message: expect.stringContaining('cross-site') } });
    expect(await jobCount()).toBe(0);
  });

  it.each(['PUT', 'PATCH', 'DELETE'])('are refused for %s too, on Bull Board and elsewhere on the listener', async (method) => {
    for (const path of ['/admin/queues/api/queues/deliver-billing/clean/failed', '/admin/queues/api/queues/deliver-billing/pause', '/metrics']) {
      expect((await send(method, path, { 'sec-fetch-site': 'cross-site' })).status, `${method} ${path}`).toBe(403);
    }
  });
});

describe('the admin API (/admin/api/...)', () => {
  it('refuses a request from another site whatever its method', async () => {
    for (const path of ['/admin/api/targets', '/ADMIN/API/targets', '/admin/api']) {
      expect((await send('GET', path, { 'sec-fetch-site': 'cross-site' })).status, path).toBe(403);
      expect((await send('GET', path, { origin: 'http://evil.example' })).status, path).toBe(403);
    }
    expect((await send('GET', '/admin/api/targets', { 'sec-fetch-site': 'same-origin' })).status).not.toBe(403);
    expect((await send('GET', '/admin/api/targets', { 'sec-fetch-site': 'none' })).status).not.toBe(403);
  });
});

describe('requests that are not cross-site', () => {
  it("pass: Bull Board's own page (same origin) and clients without a browser", async () => {
    const sameOrigin = await send('PUT', PAUSE, { origin: admin.url, 'sec-fetch-site': 'same-origin' });
    expect(sameOrigin.status).toBeLessThan(300);
    expect(await queue.isPaused()).toBe(true);
    await queue.resume();
    const noBrowser = await send('PUT', PAUSE, {});
    expect(noBrowser.status).toBeLessThan(300);
    expect(await queue.isPaused()).toBe(true);
    await queue.resume();
  });

  it('pass for reads of Bull Board from a link on another site (top-level navigation)', async () => {
    expect((await send('GET', '/admin/queues', { 'sec-fetch-site': 'cross-site' })).status).toBe(200);
    expect((await send('GET', '/metrics', { origin: 'http://evil.example' })).status).toBe(200);
  });
});
