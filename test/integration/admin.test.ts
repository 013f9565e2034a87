/**
 * The admin listener against a real redis-server: Prometheus metrics with live queue counts,
 * Bull Board behind basic auth (and off without a password), the demo sink only in development,
 * a scrape that stays fast while Redis stalls, and a public listener that serves none of it.
 */
import { describe, expect, it } from 'vitest';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import type { RelayConfig } from '../../src/config/load.js';
import { startAdmin, type AdminHandle } from '../../src/admin/listener.js';
import { silentLogger } from '../../src/lib/logger.js';
import { startReceiver } from '../../src/receive/server.js';
import { CallbackStore } from '../../src/intake/callback-store.js';
import { queueOptions } from '../../src/redis/queues.js';
import { deliveryQueueName } from '../../src/shared/names.js';
import { createWorkerConnection } from '../../src/redis/connection.js';
import { startRedisServer, useTestRedis } from '../helpers/redis.js';
import { testConfig } from '../helpers/config.js';

const PASSWORD = 'correct horse battery staple';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

const redis = useTestRedis();

async function withAdmin(config: RelayConfig, body: (admin: AdminHandle) => Promise<void>): Promise<void> {
  const admin = await startAdmin(config, { logger: silentLogger });
  try {
    await body(admin);
  } finally {
    await admin.close();
  }
}

const deadLetterBody = {
  callbackId: 'cb_test', event: 'mix_stop', appId: '424242', receivedAt: 1_700_000_000_000,
  body: '{"appid":"424242", "event":"mix_stop", "task_id":"424242:1111", "room_session_id":6085791336856668982}',
};

/** Puts one dead letter (a failed job) in the billing queue the way the delivery worker would. */
async function deadLetterOne(config: RelayConfig): Promise<void> {
  const connection = createWorkerConnection(config.redis, 'test-dead-letter');
  const queue = new Queue(deliveryQueueName('billing'), queueOptions(config, deliveryQueueName('billing'), connection));
  // As the delivery worker does: record the attempt in the data, then fail for good.
  const worker = new Worker(deliveryQueueName('billing'), async (job) => {
    await job.updateData({ ...job.data, attempts: 1, deadLettered: true });
    throw new UnrecoverableError('410 gone');
  }, queueOptions(config, deliveryQueueName('billing'), connection));
  const failed = new Promise<void>((resolve) => worker.on('failed', () => resolve()));
  await queue.add('mix_stop', deadLetterBody, { jobId: 'cb_test' });
  await failed;
  await worker.close();
  await queue.close();
  connection.disconnect();
}

describe('GET /metrics', () => {
  it('serves the contract metrics and counts dead letters per target from Redis', async () => {
    const config = testConfig({ redisUrl: redis.url });
    await deadLetterOne(config);
    await withAdmin(config, async (admin) => {
      const response = await fetch(`${admin.url}/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/plain');
      const text = await response.text();
      for (const name of ['zego_relay_callbacks_received_total', 'zego_relay_deliveries_total', 'zego_relay_delivery_duration_seconds', 'zego_relay_queue_jobs']) {
        expect(text).toContain(`# TYPE ${name}`);
      }
      expect(text).toMatch(/zego_relay_queue_jobs\{target="billing",state="failed"\} 1\n/);
      expect(text).toMatch(/zego_relay_queue_jobs\{target="billing",state="waiting"\} 0\n/);
      expect(text).toMatch(/zego_relay_dead_letters\{target="billing"\} 1\n/);
      expect(text).toMatch(/zego_relay_queue_jobs\{target="unrouted",state="waiting"\} 0\n/);
      expect(text).toMatch(/zego_relay_redis_up 1\n/);
      expect(text).toContain('zego_relay_process_cpu_user_seconds_total');
    });
  });

  it('answers within 2 s with redis_up 0 while Redis is stalled, and recovers', async () => {
    const stalled = await startRedisServer();
    try {
      const config = testConfig({ redisUrl: stalled.url });
      await withAdmin(config, async (admin) => {
        expect(await (await fetch(`${admin.url}/metrics`)).text()).toMatch(/zego_relay_redis_up 1\n/);
        stalled.pause();
        const started = Date.now();
        const text = await (await fetch(`${admin.url}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
        expect(Date.now() - started).toBeLessThan(2_000);
        expect(text).toMatch(/zego_relay_redis_up 0\n/);
        expect(text).not.toMatch(/zego_relay_dead_letters\{/);
        const ready = await fetch(`${admin.url}/readyz`, { signal: AbortSignal.timeout(5_000) });
        expect(ready.status).toBe(503);
        stalled.resume();
        await expect.poll(async () => (await fetch(`${admin.url}/metrics`)).text(), { timeout: 10_000 }).toMatch(/zego_relay_redis_up 1\n/);
      });
    } finally {
      stalled.resume();
      await stalled.stop();
    }
  });
});

describe('/admin/queues (Bull Board)', () => {
  it('asks for credentials, refuses wrong ones and shows every queue with the right ones', async () => {
    const config = testConfig({ redisUrl: redis.url, adminPassword: PASSWORD });
    await withAdmin(config, async (admin) => {
      const anonymous = await fetch(`${admin.url}/admin/queues`);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic realm="/);
      expect(anonymous.headers.get('cache-control')).toBe('no-store');
      expect(await anonymous.json()).toEqual({ ok: false, error: { code: 'unauthorized', message: 'admin credentials required (admin.username / admin.password)' } });
      for (const [user, password] of [['ops', 'wrong'], ['admin', PASSWORD], ['ops', `${PASSWORD} `]] as const) {
        expect((await fetch(`${admin.url}/admin/queues`, { headers: { authorization: basic(user, password) } })).status).toBe(401);
      }
      const api = await fetch(`${admin.url}/admin/queues/api/queues`, { headers: { authorization: basic('ops', 'wrong') } });
      expect(api.status).toBe(401);

      const page = await fetch(`${admin.url}/admin/queues`, { headers: { authorization: basic('ops', PASSWORD) } });
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<html');
      const queues = await fetch(`${admin.url}/admin/queues/api/queues`, { headers: { authorization: basic('ops', PASSWORD) } });
      expect(queues.status).toBe(200);
      const body = (await queues.json()) as { queues: { name: string; readOnlyMode: boolean }[] };
      expect(body.queues.map((queue) => queue.name).sort()).toEqual(['deliver-billing', 'unrouted']);
      expect(body.queues.every((queue) => queue.readOnlyMode === false)).toBe(true);
    });
  });

  it('shows a delivery body as JSON but refuses to write job data (Update data, Duplicate), so the stored bytes stay', async () => {
    const config = testConfig({ redisUrl: redis.url, adminPassword: PASSWORD });
    await deadLetterOne(config);
    const auth = { authorization: basic('ops', PASSWORD), 'content-type': 'application/json' };
    await withAdmin(config, async (admin) => {
      const api = `${admin.url}/admin/queues/api/queues/deliver-billing`;
      const shown = (await (await fetch(`${api}/cb_test`, { headers: auth })).json()) as { job: { name: string; data: Record<string, unknown> } };
      expect(shown.job.data).toMatchObject({ target: 'billing', body: { appid: '424242', task_id: '424242:1111' } });
      expect(shown.job.name).toBe('mix_stop → billing · attempts 1/1');

      const update = await fetch(`${api}/cb_test/update-data`, { method: 'PATCH', headers: auth, body: JSON.stringify({ jobData: shown.job.data }) });
      expect(update.status).toBe(403);
      const duplicate = await fetch(`${api}/add`, { method: 'POST', headers: auth, body: JSON.stringify({ name: shown.job.name, data: shown.job.data, options: {} }) });
      expect(duplicate.status).toBe(403);
      expect((await fetch(`${api}/cb_test/retry`, { method: 'PUT', headers: auth })).status).toBe(204);
    });
    const connection = createWorkerConnection(config.redis, 'test-inspect');
    const queue = new Queue(deliveryQueueName('billing'), queueOptions(config, deliveryQueueName('billing'), connection));
    try {
      expect((await queue.getJob('cb_test'))?.data).toEqual({ ...deadLetterBody, attempts: 1, deadLettered: true });
      expect(await queue.count()).toBe(1);
    } finally {
      await queue.close();
      connection.disconnect();
    }
  });

  it('is read-only with admin.readOnly', async () => {
    const config = testConfig({ redisUrl: redis.url, adminPassword: PASSWORD, readOnly: true });
    await withAdmin(config, async (admin) => {
      const queues = await fetch(`${admin.url}/admin/queues/api/queues`, { headers: { authorization: basic('ops', PASSWORD) } });
      const body = (await queues.json()) as { queues: { readOnlyMode: boolean }[] };
      expect(body.queues.length).toBe(2);
      expect(body.queues.every((queue) => queue.readOnlyMode)).toBe(true);
    });
  });

  it('is off (404) without admin.password, even with credentials', async () => {
    const config = testConfig({ redisUrl: redis.url });
    await withAdmin(config, async (admin) => {
      expect((await fetch(`${admin.url}/admin/queues`)).status).toBe(404);
      expect((await fetch(`${admin.url}/admin/queues/api/queues`, { headers: { authorization: basic('ops', '') } })).status).toBe(404);
      expect((await fetch(`${admin.url}/healthz`)).status).toBe(200);
    });
  });
});

describe('errors the admin listener leaves to Koa', () => {
  it("answers a body Bull Board's own parser refuses with its 4xx, not as a bug of ours (500)", async () => {
    const config = testConfig({ redisUrl: redis.url, adminPassword: PASSWORD });
    await withAdmin(config, async (admin) => {
      const response = await fetch(`${admin.url}/admin/queues/api/queues/deliver-billing/pause`, {
        method: 'PUT', headers: { authorization: basic('ops', PASSWORD), 'content-type': 'application/json' }, body: '{not json',
      });
      expect(response.status).toBe(400);
      expect(response.headers.get('x-frame-options')).toBe('DENY');
    });
  });
});

describe('POST /demo/sink', () => {
  it('answers 204 in development mode and does not exist in production', async () => {
    const development = testConfig({ redisUrl: redis.url, mode: 'development' });
    await withAdmin(development, async (admin) => {
      const response = await fetch(`${admin.url}/demo/sink`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"event":"mix_stop"}' });
      expect(response.status).toBe(204);
      const tooLarge = await fetch(`${admin.url}/demo/sink`, { method: 'POST', body: 'x'.repeat(256 * 1024 + 1) });
      expect(tooLarge.status).toBe(413);
      expect(await tooLarge.json()).toEqual({ ok: false, error: { code: 'payload_too_large', message: `the body is larger than ${256 * 1024} bytes` } });
    });
    const production = testConfig({ redisUrl: redis.url, mode: 'production' });
    await withAdmin(production, async (admin) => {
      const response = await fetch(`${admin.url}/demo/sink`, { method: 'POST', body: '{}' });
      expect(response.status).toBe(404);
    });
  });
});

describe('/readyz on the admin listener', () => {
  it('counts the callbacks acknowledged and not yet routed (the intake log)', async () => {
    const config = testConfig({ redisUrl: redis.url });
    const store = CallbackStore.open(config, silentLogger);
    try {
      for (const id of ['cb_1a', 'cb_2b']) {
        expect(await store.store({ callbackId: id, event: 'mix_stop', appId: '424242', replayKey: id, body: '{}' })).toBe('stored');
      }
    } finally {
      await store.close();
    }
    await withAdmin(config, async (admin) => {
      const ready = await fetch(`${admin.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ ok: true, redis: 'up', config: config.source, intakePending: 2 });
    });
  });
});

describe('the public listener', () => {
  it('serves health but neither metrics, Bull Board nor the demo sink', async () => {
    const config = testConfig({ redisUrl: redis.url, adminPassword: PASSWORD, mode: 'development' });
    const receiver = await startReceiver(config, { logger: silentLogger });
    try {
      const base = `http://127.0.0.1:${receiver.port}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      const auth = { authorization: basic('ops', PASSWORD) };
      for (const path of ['/metrics', '/admin/queues', '/admin/queues/api/queues']) {
        const response = await fetch(`${base}${path}`, { headers: auth });
        expect(response.status, path).toBe(404);
        expect(await response.text()).not.toContain('zego_relay_');
      }
      expect((await fetch(`${base}/demo/sink`, { method: 'POST', body: '{}' })).status).toBe(404);
    } finally {
      await receiver.close();
    }
  });
});
