/**
 * The admin API on a real admin listener, real workers, real targets and a real Redis: every row
 * of the table (list, pause, resume, replay), basic auth, the cross-site refusal, a pause that holds
 * across a worker restart and agrees with Bull Board, the breaker's state in the API and metrics,
 * and Bull Board's own retry button giving a dead letter its whole schedule again.
 */
import type { Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import type { RelayConfig } from '../../src/config/load.js';
import { BreakerStore } from '../../src/targets/breaker-store.js';
import type { TrackedDeliveryData } from '../../workers/deliver/progress.js';
import { startAdmin, type AdminHandle } from '../../src/admin/listener.js';
import { silentLogger } from '../../src/lib/logger.js';
import { parseTestConfig, testConfig, testConfigObject } from '../helpers/config.js';
import { deliveryHarness, type DeliveryHarness } from '../helpers/delivery.js';
import { useTestRedis } from '../helpers/redis.js';
import { always, flaky, ok, startTargetServer, type TargetServer } from '../helpers/targets.js';

const redis = useTestRedis();
const PASSWORD = 'admin-api-Pw-5d2c';
const AUTH = { authorization: `Basic ${Buffer.from(`ops:${PASSWORD}`).toString('base64')}` };

interface Setup {
  readonly config: RelayConfig;
  readonly admin: AdminHandle;
  readonly relay: DeliveryHarness;
  readonly billing: TargetServer;
  readonly audit: TargetServer;
  api(path: string, init?: RequestInit): Promise<Response>;
}

/** Two targets (billing, audit), the admin listener and a delivery harness on one prefix. */
async function setup(options: { password?: string; readOnly?: boolean; billing?: Parameters<typeof startTargetServer>[0]; schedule?: string[] } = {}): Promise<Setup> {
  const billing = await startTargetServer(options.billing ?? ok);
  const audit = await startTargetServer(ok);
  redis.cleanup(() => Promise.all([billing.close(), audit.close()]));
  const secretUrl = new URL(billing.url);
  secretUrl.username = 'user';
  secretUrl.password = 'hunter2';
  secretUrl.search = '?token=secret';
  // Like a chat webhook's: a token in the path.
  secretUrl.pathname = '/hook/Path-Token-9f';
  const config = testConfig({
    redisUrl: redis.url,
    readOnly: options.readOnly ?? false,
    ...(options.password === undefined ? { adminPassword: PASSWORD } : options.password ? { adminPassword: options.password } : {}),
    targets: [{ name: 'billing', url: secretUrl.toString(), retry: { schedule: options.schedule ?? [], jitter: 0 } }, { name: 'audit', url: audit.url }],
  });
  const admin = await startAdmin(config, { logger: silentLogger });
  redis.cleanup(() => admin.close());
  const relay = await deliveryHarness(config);
  redis.cleanup(() => relay.close());
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${admin.url}${path}`, { ...init, headers: { ...AUTH, ...(init.body ? { 'content-type': 'application/json' } : {}), ...(init.headers as Record<string, string>) } });
  return { config, admin, relay, billing, audit, api };
}

const post = (body?: unknown): RequestInit => ({ method: 'POST', ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });

async function targetsOf(api: Setup['api']): Promise<Record<string, Record<string, unknown>>> {
  const response = await api('/admin/api/targets');
  expect(response.status).toBe(200);
  const list = (await response.json()) as Record<string, unknown>[];
  return Object.fromEntries(list.map((entry) => [entry.name as string, entry]));
}

describe('GET /admin/api/targets', () => {
  it('lists every target with its URL (no credentials, no query, the path past its first segment masked), state and counts', async () => {
    const { api, relay, billing } = await setup({ billing: always(410) });
    await relay.startWorkers();
    const data = await relay.enqueue('billing');
    await relay.waitForState('billing', data.callbackId, 'failed');
    const response = await api('/admin/api/targets');
    expect(response.headers.get('content-type')).toContain('application/json');
    const list = (await response.json()) as unknown[];
    expect(list).toEqual([
      { name: 'billing', url: `http://127.0.0.1:${billing.port}/hook/***?***`, state: 'delivering', waiting: 0, delayed: 0, active: 0, deadLetters: 1 },
      { name: 'audit', url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/hook$/), state: 'delivering', waiting: 0, delayed: 0, active: 0, deadLetters: 0 },
    ]);
    expect(JSON.stringify(list)).not.toMatch(/hunter2|token|Token|user/);
  });

  it("shows a target whose breaker is open as 'open', and zego_relay_target_open says 1", async () => {
    const { api, admin, relay } = await setup();
    const breaker = new BreakerStore(relay.connection, relay.config.redis.prefix, 'billing');
    await breaker.recordFailure({ openAfter: 0, minFailures: 1, probeInterval: 60_000 }, 'target answered 503');
    expect((await targetsOf(api)).billing?.state).toBe('open');
    const metrics = await (await fetch(`${admin.url}/metrics`)).text();
    expect(metrics).toMatch(/zego_relay_target_open\{target="billing"\} 1\n/);
    expect(metrics).toMatch(/zego_relay_target_open\{target="audit"\} 0\n/);
    // resume ends an open breaker's hold too: the operator says the target is back.
    expect((await api('/admin/api/targets/billing/resume', post())).status).toBe(200);
    expect((await targetsOf(api)).billing?.state).toBe('delivering');
  });
});

describe('POST /admin/api/targets/NAME/pause and /resume', () => {
  it('holds a target (nothing lost; Bull Board agrees; it holds across a worker restart) until resumed', async () => {
    const { api, admin, relay, billing, audit } = await setup();
    await relay.startWorkers();
    const paused = await api('/admin/api/targets/billing/pause', post());
    expect(paused.status).toBe(200);
    expect(await paused.json()).toEqual({ ok: true });
    expect((await targetsOf(api)).billing?.state).toBe('paused');
    // Bull Board reads the same switch.
    const board = (await (await api('/admin/queues/api/queues')).json()) as { queues: { name: string; isPaused: boolean }[] };
    expect(board.queues.find((queue) => queue.name === 'deliver-billing')?.isPaused).toBe(true);
    expect(board.queues.find((queue) => queue.name === 'deliver-audit')?.isPaused).toBe(false);

    // A worker restart does not end the pause.
    const first = await relay.startWorkers();
    await first.close();
    await relay.startWorkers();
    const held = await relay.enqueue('billing');
    const passed = await relay.enqueue('audit');
    // The audit delivery, queued after billing's, arrives: the workers run, billing's is held.
    await audit.waitForRequests(1);
    await relay.waitForState('audit', passed.callbackId, 'completed');
    expect(billing.requests).toHaveLength(0);
    expect(await relay.queue('billing').getJobState(held.callbackId)).toBe('waiting');
    const metrics = await (await fetch(`${admin.url}/metrics`)).text();
    expect(metrics).toMatch(/zego_relay_target_open\{target="billing"\} 1\n/);
    expect(Number(/zego_relay_oldest_waiting_seconds\{target="billing"\} ([\d.e-]+)\n/.exec(metrics)?.[1])).toBeGreaterThan(0);
    expect(await targetsOf(api)).toMatchObject({ billing: { state: 'paused', waiting: 1 } });

    const resumed = await api('/admin/api/targets/billing/resume', post());
    expect(await resumed.json()).toEqual({ ok: true });
    await relay.waitForState('billing', held.callbackId, 'completed');
    expect(billing.requests).toHaveLength(1);
    expect((await targetsOf(api)).billing?.state).toBe('delivering');
  });
});

describe('POST /admin/api/targets/NAME/replay', () => {
  it('re-queues the dead letters with a fresh schedule and says how many', async () => {
    const { api, relay, billing } = await setup({ billing: always(500), schedule: ['20ms'] });
    await relay.startWorkers();
    const dead = [await relay.enqueue('billing'), await relay.enqueue('billing')];
    for (const data of dead) await relay.waitForState('billing', data.callbackId, 'failed');
    billing.respond = flaky(billing.requests.length + 1, 500); // one more failure, then 200

    const response = await api('/admin/api/targets/billing/replay', post({ since: '24h', limit: 100 }));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true, requeued: 2, more: false });
    for (const data of dead) await relay.waitForState('billing', data.callbackId, 'completed');
    // Four requests before (two attempts each), then attempt 1 failing once and attempt 2 or 1 succeeding.
    expect(billing.requests.slice(4).map((request) => request.headers['x-relay-attempt']).sort()).toEqual(['1', '1', '2']);
    expect(await (await api('/admin/api/targets/billing/replay', post({}))).json()).toEqual({ ok: true, requeued: 0, more: false });
  });

  it('refuses a bad body with 400 invalid_body and an unknown target with 404 not_found', async () => {
    const { api } = await setup();
    for (const body of ['{not json', '[1]', { since: 'yesterday' }, { limit: 0 }, { limit: 'ten' }, { since: '1h', extra: true }]) {
      const response = await api('/admin/api/targets/billing/replay', post(body));
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('invalid_body');
    }
    for (const path of ['/admin/api/targets/nope/pause', '/admin/api/targets/nope/resume', '/admin/api/targets/nope/replay']) {
      const response = await api(path, post());
      expect(response.status, path).toBe(404);
      expect(await response.json()).toEqual({ ok: false, error: { code: 'not_found', message: 'no target named "nope"' } });
    }
    expect((await api('/admin/api/other')).status).toBe(404);
    expect((await api('/admin/api/targets/billing/pause')).status).toBe(405);
  });
});

describe('the replay body\'s `since`', () => {
  it('is read as the config reads a duration, and a bad one is refused with the config\'s own words', async () => {
    const { api } = await setup();
    const configSays = (() => {
      try {
        parseTestConfig({ ...testConfigObject({ redisUrl: redis.url }), retention: { completedAge: '1.5 fortnights' } });
      } catch (error) {
        return /completedAge: (.*)$/m.exec((error as Error).message)?.[1];
      }
    })();
    expect(configSays).toContain('is not a duration');
    const refused = await api('/admin/api/targets/billing/replay', post({ since: '1.5 fortnights' }));
    expect(await refused.json()).toEqual({ ok: false, error: { code: 'invalid_body', message: `since: ${configSays}` } });
    // A number is milliseconds to both, and `1.5h` is 90 minutes.
    for (const since of [90_000, '1.5h']) expect((await api('/admin/api/targets/billing/replay', post({ since }))).status, String(since)).toBe(200);
  });
});

describe('admin API access', () => {
  it('requires basic auth, and is off (404) without admin.password', async () => {
    const { admin } = await setup();
    const anonymous = await fetch(`${admin.url}/admin/api/targets`);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    const wrong = await fetch(`${admin.url}/admin/api/targets/billing/pause`, { method: 'POST', headers: { authorization: `Basic ${Buffer.from('ops:wrong').toString('base64')}` } });
    expect(wrong.status).toBe(401);

    const off = await setup({ password: '' });
    expect((await fetch(`${off.admin.url}/admin/api/targets`, { headers: AUTH })).status).toBe(404);
    expect((await fetch(`${off.admin.url}/admin/api/targets/billing/pause`, { method: 'POST', headers: AUTH })).status).toBe(404);
  });

  it('only lists with admin.readOnly: pause, resume and replay are 403 read_only', async () => {
    const { api } = await setup({ readOnly: true });
    for (const action of ['pause', 'resume', 'replay']) {
      const response = await api(`/admin/api/targets/billing/${action}`, post());
      expect(response.status, action).toBe(403);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('read_only');
    }
    expect((await targetsOf(api)).billing?.state).toBe('delivering');
  });

  it('refuses a cross-site request with 403, even with the right credentials', async () => {
    const { api, admin } = await setup();
    const fromElsewhere = await api('/admin/api/targets/billing/pause', { ...post(), headers: { origin: 'https://evil.example' } });
    expect(fromElsewhere.status).toBe(403);
    expect(((await fetch(`${admin.url}/admin/api/targets`, { headers: { ...AUTH, 'sec-fetch-site': 'cross-site' } })).status)).toBe(403);
    expect((await targetsOf(api)).billing?.state).toBe('delivering');
    const sameOrigin = await api('/admin/api/targets/billing/pause', { ...post(), headers: { origin: admin.url, 'sec-fetch-site': 'same-origin' } });
    expect(sameOrigin.status).toBe(200);
  });
});

describe("Bull Board's retry button", () => {
  it('gives a dead letter its whole schedule again (x-relay-attempt starts at 1)', async () => {
    const { api, relay, billing } = await setup({ billing: always(503), schedule: ['20ms'] });
    await relay.startWorkers();
    const data = await relay.enqueue('billing');
    await relay.waitForState('billing', data.callbackId, 'failed');
    expect(((await relay.queue('billing').getJob(data.callbackId)) as Job<TrackedDeliveryData>).data).toMatchObject({ attempts: 2, deadLettered: true });
    billing.respond = flaky(3, 503); // fails once more, then 200

    const retried = await api(`/admin/queues/api/queues/deliver-billing/${data.callbackId}/retry`, { method: 'PUT' });
    expect(retried.status).toBe(204);
    await relay.waitForState('billing', data.callbackId, 'completed');
    expect(billing.requests.map((request) => request.headers['x-relay-attempt'])).toEqual(['1', '2', '1', '2']);
  });
});
