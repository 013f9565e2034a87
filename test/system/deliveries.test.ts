/**
 * The record of a target's latest deliveries (src/targets/delivery-record.ts): a delivery the router
 * made on its first attempt leaves no job, so this is where "was it delivered?" is answered, by the
 * admin API (`GET /admin/api/targets/NAME/deliveries`) and the compiled `zego-relay deliveries`
 * command. Bounded by retention.completedCount; a worker's delivery is recorded too.
 */
import { describe, expect, it } from 'vitest';
import { startWorkers } from '../../workers/role.js';
import { deliveryRecordKey, recentDeliveries } from '../../src/targets/delivery-record.js';
import { silentLogger } from '../../src/lib/logger.js';
import { startAdmin } from '../../src/admin/listener.js';
import { runCli } from '../helpers/cli.js';
import { deliveryFixtures } from '../helpers/delivery.js';
import { useTestRedis } from '../helpers/redis.js';
import { routerHarness } from '../helpers/router.js';
import { ok } from '../helpers/targets.js';

const redis = useTestRedis();
const { configFor, storeCallbacks } = routerHarness(redis);
const { target } = deliveryFixtures(redis);
const PASSWORD = 'deliveries-Pw-81c2d';
const auth = { authorization: `Basic ${Buffer.from(`ops:${PASSWORD}`).toString('base64')}` };

/** A relay with a target `direct` (first attempts by the router) and `queued` (every delivery a job). */
async function relayWithTwoTargets(retention: Record<string, unknown> = {}) {
  const direct = await target(ok);
  const queued = await target(ok);
  const { config, file } = configFor({
    retention,
    targets: [
      { name: 'direct', url: direct.url, events: ['*'] },
      { name: 'queued', url: queued.url, events: ['*'], directFirstAttempt: false },
    ],
  });
  const workers = await startWorkers(config, { logger: silentLogger });
  redis.cleanup(() => workers.close());
  return { config, file, direct, queued };
}

describe('the record of deliveries', () => {
  it('lists the latest deliveries newest first, by the router or by a worker, in the admin API and the deliveries command', async () => {
    const { config, file, direct, queued } = await relayWithTwoTargets();
    const ids = await storeCallbacks(config, 3);
    await direct.waitForRequests(3);
    await queued.waitForRequests(3);
    await expect.poll(async () => (await recentDeliveries(redis.inspector, config.redis.prefix, 'queued', 10)).length).toBe(3);
    await expect.poll(async () => (await recentDeliveries(redis.inspector, config.redis.prefix, 'direct', 10)).length).toBe(3);

    const adminConfig = { ...config, admin: { ...config.admin, password: PASSWORD } };
    const admin = await startAdmin(adminConfig, { logger: silentLogger });
    redis.cleanup(() => admin.close());
    const get = (path: string, headers: Record<string, string> = auth) => fetch(`${admin.url}/admin/api${path}`, { headers });

    const all = await get('/targets/direct/deliveries');
    expect(all.status).toBe(200);
    const listed = (await all.json()) as { callbackId: string; by: string; attempt: number; status: number; event: string; at: string; durationMs: number }[];
    expect(new Set(listed.map((entry) => entry.callbackId))).toEqual(new Set(ids));
    expect(listed.every((entry) => entry.by === 'router' && entry.attempt === 1 && entry.status === 204 && entry.event === 'mix_stop')).toBe(true);
    expect(listed.every((entry) => !Number.isNaN(Date.parse(entry.at)) && entry.durationMs >= 0)).toBe(true);
    // Newest first: the order the record has them in, latest at the top.
    const times = listed.map((entry) => Date.parse(entry.at));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(((await (await get('/targets/queued/deliveries?limit=2')).json()) as { by: string }[]).map((entry) => entry.by)).toEqual(['worker', 'worker']);
    expect((await get('/targets/nobody/deliveries')).status).toBe(404);
    expect((await get('/targets/direct/deliveries?limit=0')).status).toBe(400);
    expect((await get('/targets/direct/deliveries?limit=abc')).status).toBe(400);
    expect((await get('/targets/direct/deliveries', {})).status).toBe(401);

    const env = { REDIS_URL: redis.url };
    const lines = await runCli(['deliveries', '--target', 'direct', '--limit', '2', '--config', file], { env });
    expect(lines.code, lines.stderr).toBe(0);
    const printed = lines.stdout.trim().split('\n');
    expect(printed).toHaveLength(2);
    expect(printed[0]).toMatch(/^\S+Z {2}cb_[0-9a-f]+ {2}mix_stop {2}attempt 1 {2}204 {2}[\d.]+ ms {2}first attempt by the router$/);
    const json = await runCli(['deliveries', '--target', 'queued', '--json', '--config', file], { env });
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(await recentDeliveries(redis.inspector, config.redis.prefix, 'queued', 100));
    const unknown = await runCli(['deliveries', '--target', 'nobody', '--config', file], { env });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no target named "nobody"');
    expect((await runCli(['deliveries', '--config', file], { env })).code).toBe(2);
  });

  it('stays about retention.completedCount long however many deliveries there are, and keeps the newest', async () => {
    const { config, direct } = await relayWithTwoTargets({ completedCount: 20 });
    const ids = await storeCallbacks(config, 400);
    await direct.waitForRequests(400, 30_000);
    const key = deliveryRecordKey(config.redis.prefix, 'direct');
    const last = String(direct.requests.at(-1)!.headers['webhook-id']);
    await expect.poll(async () => (await recentDeliveries(redis.inspector, config.redis.prefix, 'direct', 200)).map((entry) => entry.callbackId)).toContain(last);
    const kept = await recentDeliveries(redis.inspector, config.redis.prefix, 'direct', 10_000);
    // Redis trims whole stream nodes (`MAXLEN ~`): a little more than the cap stays, never all.
    expect(kept.length).toBeGreaterThanOrEqual(20);
    expect(kept.length).toBeLessThan(200);
    expect(await redis.inspector.xlen(key)).toBeLessThan(200);
    expect(ids).toContain(kept[0]!.callbackId);
  });
});
