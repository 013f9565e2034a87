/**
 * The admin listener's guards on a real listener and a real Redis: Bull Board writes only what an
 * operator needs (retry a dead letter, promote, pause, resume), whatever the spelling of the path;
 * every state-changing request leaves an audit line; an answered request's endless body is not
 * read on; a loopback listener answers only loopback Host names (DNS rebinding); nothing may
 * frame its answers.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { describe, expect, it } from 'vitest';
import type { RelayConfig } from '../../src/config/load.js';
import { startAdmin, type AdminHandle } from '../../src/admin/listener.js';
import { silentLogger, type Logger } from '../../src/lib/logger.js';
import { queueOptions } from '../../src/redis/queues.js';
import { deliveryQueueName } from '../../src/shared/names.js';
import { createWorkerConnection } from '../../src/redis/connection.js';
import { testConfig, testConfigObject, parseTestConfig, type TestConfigOptions } from '../helpers/config.js';
import { endlessUpload } from '../helpers/endless-upload.js';
import { capturingLogger } from '../helpers/log-capture.js';
import { useTestRedis } from '../helpers/redis.js';

const redis = useTestRedis();
const PASSWORD = 'admin-guards-Pw-7e1a';
const AUTHORIZATION = `Basic ${Buffer.from(`ops:${PASSWORD}`).toString('base64')}`;
const BOARD = '/admin/queues/api/queues/deliver-billing';

async function admin(options: Omit<TestConfigOptions, 'redisUrl'> = {}, logger: Logger = silentLogger): Promise<{ config: RelayConfig; admin: AdminHandle }> {
  const config = testConfig({ redisUrl: redis.url, adminPassword: PASSWORD, ...options });
  const handle = await startAdmin(config, { logger });
  redis.cleanup(() => handle.close());
  return { config, admin: handle };
}

/** The billing queue, seen from outside the relay. */
function billingQueue(config: RelayConfig): Queue {
  const connection = createWorkerConnection(config.redis, 'test-guards');
  const queue = new Queue(deliveryQueueName('billing'), queueOptions(config, deliveryQueueName('billing'), connection));
  redis.cleanup(async () => {
    await queue.close();
    connection.disconnect();
  });
  return queue;
}

/** A dead letter `cb_dead`, a delivered `cb_done` and a waiting `cb_wait`, as the delivery worker leaves them. */
async function seed(config: RelayConfig, queue: Queue): Promise<void> {
  const connection = createWorkerConnection(config.redis, 'test-guards-worker');
  const worker = new Worker(deliveryQueueName('billing'), async (job) => {
    if (job.id === 'cb_dead') throw new UnrecoverableError('410 gone');
  }, queueOptions(config, deliveryQueueName('billing'), connection));
  const finished = new Promise<void>((resolve) => {
    let count = 0;
    const one = () => ++count === 2 && resolve();
    worker.on('failed', one);
    worker.on('completed', one);
  });
  await queue.add('mix_stop', { callbackId: 'cb_dead', body: '{"a":1}' }, { jobId: 'cb_dead' });
  await queue.add('mix_stop', { callbackId: 'cb_done', body: '{"a":2}' }, { jobId: 'cb_done' });
  await finished;
  await worker.close();
  connection.disconnect();
  await queue.add('mix_stop', { callbackId: 'cb_wait', body: '{"a":3}' }, { jobId: 'cb_wait' });
}

/** What a refused write must leave as it was. */
async function snapshot(queue: Queue) {
  const counts = await queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed');
  const jobs = await Promise.all(['cb_dead', 'cb_done', 'cb_wait'].map(async (id) => {
    const job = await queue.getJob(id);
    return { id, state: await job?.getState(), data: job?.data };
  }));
  return { counts, jobs, paused: await queue.isPaused(), concurrency: await queue.getGlobalConcurrency(), rateLimit: await queue.getRateLimitTtl() };
}

const send = (handle: AdminHandle, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  fetch(`${handle.url}${path}`, {
    method,
    headers: { authorization: AUTHORIZATION, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

describe('Bull Board writes', () => {
  it.each([
    ['add a job, path in upper case', 'POST', '/admin/queues/API/queues/deliver-billing/add', { name: 'forged', data: { body: '{"forged":1}' }, options: {} }],
    ['add a job, verb in upper case', 'POST', `${BOARD}/ADD`, { name: 'forged', data: { body: '{"forged":1}' }, options: {} }],
    ['edit a job\'s data, mixed case', 'PATCH', `${BOARD}/cb_dead/Update-Data`, { jobData: { body: '{"edited":1}' } }],
    ['edit a job\'s data, percent-encoded', 'PATCH', `${BOARD}/cb_dead/update%2Ddata`, { jobData: { body: '{"edited":1}' } }],
    ['empty the queue', 'PUT', `${BOARD}/empty`, undefined],
    ['empty the queue, doubled slash', 'PUT', `${BOARD}//empty`, undefined],
    ['obliterate the queue', 'PUT', `${BOARD}/Obliterate`, undefined],
    ['clean the delivered jobs', 'PUT', `${BOARD}/clean/completed`, undefined],
    ['clean the dead letters', 'PUT', `${BOARD}/clean/failed`, undefined],
    ['clean one job', 'PUT', `${BOARD}/cb_done/clean`, undefined],
    ['retry every delivered job', 'PUT', `${BOARD}/retry/completed`, undefined],
    ['retry one delivered job', 'PUT', `${BOARD}/cb_done/retry`, undefined],
    ['set a global concurrency', 'PUT', `${BOARD}/concurrency`, { concurrency: 1 }],
    ['set a global rate limit', 'PUT', `${BOARD}/rate-limit`, { max: 1, duration: 60_000 }],
    ['change a job\'s delay', 'PATCH', `${BOARD}/cb_wait/delay`, { delay: 60_000 }],
  ])('refuses to %s (403) and changes nothing', async (_name, method, path, body) => {
    const { config, admin: handle } = await admin();
    const queue = billingQueue(config);
    await seed(config, queue);
    const before = await snapshot(queue);
    const response = await send(handle, method, path, body);
    expect(response.status).toBe(403);
    expect(await response.json()).toEqual({ error: { key: expect.stringMatching(/^zego-relay /) } });
    expect(await snapshot(queue)).toEqual(before);
  });

  it('lets an operator retry a dead letter (one, or every one), promote, pause and resume', async () => {
    const { config, admin: handle } = await admin();
    const queue = billingQueue(config);
    await seed(config, queue);
    expect((await send(handle, 'PUT', `${BOARD}/cb_dead/retry`)).status).toBe(204);
    expect(await (await queue.getJob('cb_dead'))!.getState()).toBe('waiting');
    expect((await send(handle, 'PUT', `${BOARD}/retry/failed`)).status).toBe(200);
    expect((await send(handle, 'PUT', `${BOARD}/promote`)).status).toBe(200);
    expect((await send(handle, 'PUT', `${BOARD}/pause`)).status).toBe(200);
    expect(await queue.isPaused()).toBe(true);
    expect((await send(handle, 'PUT', `${BOARD}/resume`)).status).toBe(200);
    expect(await queue.isPaused()).toBe(false);
    expect((await send(handle, 'PUT', '/admin/queues/api/queues/pause')).status).toBe(200);
    expect(await queue.isPaused()).toBe(true);
  });

  it('refuses every write with admin.readOnly, retry included', async () => {
    const { config, admin: handle } = await admin({ readOnly: true });
    const queue = billingQueue(config);
    await seed(config, queue);
    const before = await snapshot(queue);
    for (const path of [`${BOARD}/cb_dead/retry`, `${BOARD}/pause`, `${BOARD}/retry/failed`]) {
      expect((await send(handle, 'PUT', path)).status, path).toBe(403);
    }
    expect(await snapshot(queue)).toEqual(before);
  });
});

describe('the audit trail', () => {
  it('logs every state-changing admin request at info, answered or refused, with the user, method, path and outcome', async () => {
    const { logger, lines } = capturingLogger('info');
    const { config, admin: handle } = await admin({}, logger);
    await seed(config, billingQueue(config));
    await send(handle, 'PUT', `${BOARD}/cb_dead/retry`);
    await send(handle, 'PUT', `${BOARD}/EMPTY`);
    await send(handle, 'POST', '/admin/api/targets/billing/pause');
    await send(handle, 'POST', '/admin/api/targets/billing/pause', undefined, { authorization: 'Basic b3BzOndyb25n' });
    await send(handle, 'POST', '/admin/api/targets/billing/pause', undefined, { origin: 'http://evil.example' });
    // Reads are not audited.
    await send(handle, 'GET', '/admin/api/targets');
    await send(handle, 'GET', `${BOARD}/cb_dead`);
    const audit = () => lines.filter((line) => (line as unknown as { audit?: boolean }).audit === true);
    await expect.poll(() => audit().length).toBe(5);
    expect(audit()).toEqual([
      expect.objectContaining({ level: 30, audit: true, user: 'ops', method: 'PUT', path: `${BOARD}/cb_dead/retry`, status: 204, outcome: 'done' }),
      expect.objectContaining({ level: 30, audit: true, user: 'ops', method: 'PUT', path: `${BOARD}/EMPTY`, status: 403, outcome: 'refused' }),
      expect.objectContaining({ level: 30, audit: true, user: 'ops', method: 'POST', path: '/admin/api/targets/billing/pause', status: 200, outcome: 'done' }),
      expect.objectContaining({ level: 30, audit: true, user: null, method: 'POST', path: '/admin/api/targets/billing/pause', status: 401, outcome: 'refused' }),
      expect.objectContaining({ level: 30, audit: true, user: null, method: 'POST', path: '/admin/api/targets/billing/pause', status: 403, outcome: 'refused' }),
    ]);
    expect(JSON.stringify(lines)).not.toContain(PASSWORD);
  });
});

describe('a body that never ends, sent to the admin listener', () => {
  const budget = 256 * 1024 * 1024;

  it.each([
    ['401 without credentials', '/admin/api/targets/billing/pause', '', '401'],
    ['403 for a refused Bull Board write', `${BOARD}/add`, `Authorization: ${AUTHORIZATION}\r\n`, '403'],
    ['404 elsewhere', '/nowhere', '', '404'],
    ['400 for an admin API body past its limit', '/admin/api/targets/billing/pause', `Authorization: ${AUTHORIZATION}\r\n`, '400'],
    ['413 for a demo sink delivery past its limit', '/demo/sink', '', '413', 'development'],
  ])('is answered (%s) and the connection closed: the listener reads a bounded amount', async (_name, path, headers, status, mode?: string) => {
    const { admin: handle } = await admin(mode === 'development' ? { mode: 'development' } : {});
    const upload = await endlessUpload(handle.port, path, 'application/json', budget, headers);
    expect(upload.response.startsWith(`HTTP/1.1 ${status}`), upload.response.slice(0, 80)).toBe(true);
    expect(upload.response.toLowerCase()).toContain('connection: close');
    expect(upload.closedByRelay).toBe(true);
    expect(upload.written).toBeLessThan(16 * 1024 * 1024);
  }, 30_000);
});

/** A GET with a Host header of our choosing (fetch does not let a page or a test set it). */
function getWithHost(port: number, path: string, host: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: '127.0.0.1', port, path, headers: { host, ...headers } }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers }));
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

/** What the listener answers to `text` sent as it is. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    socket.on('data', (data: Buffer) => (answer += data.toString('latin1')));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

describe('Host names on a loopback admin listener (DNS rebinding)', () => {
  it('answers loopback names and addresses with any port, and refuses any other name, on every path', async () => {
    const { admin: handle } = await admin();
    for (const host of ['127.0.0.1', `127.0.0.1:${handle.port}`, `localhost:${handle.port}`, 'LOCALHOST', `[::1]:${handle.port}`, '127.1.2.3:80']) {
      expect((await getWithHost(handle.port, '/metrics', host)).status, host).toBe(200);
    }
    for (const host of ['evil.example', `evil.example:${handle.port}`, '127.0.0.1.evil.example', 'localhost.evil.example', '[::1].evil.example']) {
      for (const path of ['/metrics', '/healthz', '/admin/queues', '/admin/api/targets']) {
        expect((await getWithHost(handle.port, path, host, { authorization: AUTHORIZATION })).status, `${host} ${path}`).toBe(403);
      }
    }
    // HTTP/1.0 may leave Host out: nothing names a loopback host then either.
    expect(await rawRequest(handle.port, 'GET /metrics HTTP/1.0\r\n\r\n')).toMatch(/^HTTP\/1\.1 403 /);
  });

  it('also answers the names of admin.allowedHosts', async () => {
    const object = testConfigObject({ redisUrl: redis.url, adminPassword: PASSWORD });
    (object.admin as Record<string, unknown>).allowedHosts = ['relay-admin.internal', '[fd00::1]'];
    const handle = await startAdmin(parseTestConfig(object), { logger: silentLogger });
    redis.cleanup(() => handle.close());
    expect((await getWithHost(handle.port, '/metrics', 'relay-admin.internal:9090')).status).toBe(200);
    expect((await getWithHost(handle.port, '/metrics', 'RELAY-ADMIN.internal')).status).toBe(200);
    expect((await getWithHost(handle.port, '/metrics', '[fd00::1]:9090')).status).toBe(200);
    expect((await getWithHost(handle.port, '/metrics', 'evil.example')).status).toBe(403);
  });

  it('checks no Host when the listener does not bind to a loopback address', async () => {
    const object = testConfigObject({ redisUrl: redis.url });
    (object.admin as Record<string, unknown>).host = '0.0.0.0';
    const handle = await startAdmin(parseTestConfig(object), { logger: silentLogger });
    redis.cleanup(() => handle.close());
    expect((await getWithHost(handle.port, '/healthz', 'relay.example.com')).status).toBe(200);
  });
});

describe('framing', () => {
  it('is forbidden on every admin answer', async () => {
    const { admin: handle } = await admin();
    const answers = [
      await getWithHost(handle.port, '/metrics', '127.0.0.1'),
      await getWithHost(handle.port, '/admin/queues', '127.0.0.1'),
      await getWithHost(handle.port, '/admin/queues', '127.0.0.1', { authorization: AUTHORIZATION }),
      await getWithHost(handle.port, '/admin/api/targets', '127.0.0.1', { authorization: AUTHORIZATION }),
      await getWithHost(handle.port, '/nowhere', '127.0.0.1'),
      await getWithHost(handle.port, '/metrics', 'evil.example'),
      await getWithHost(handle.port, '/admin/api/targets', '127.0.0.1', { authorization: AUTHORIZATION, 'sec-fetch-site': 'cross-site' }),
    ];
    expect(answers.map((answer) => answer.status)).toEqual([200, 401, 200, 200, 404, 403, 403]);
    for (const answer of answers) {
      expect(answer.headers['x-frame-options']).toBe('DENY');
      expect(answer.headers['content-security-policy']).toBe("frame-ancestors 'none'");
    }
  });
});
