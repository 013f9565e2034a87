/**
 * Adding intake shards is a config change and a restart: callbacks stored under the old shard count
 * (and not yet routed) are routed after it, ZEGO's retries of them are answered 200 and delivered
 * once, nonces bound before it still refuse a replay, and new callbacks flow through every shard.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/lib/logger.js';
import { startReceiver } from '../../src/receive/server.js';
import { startWorkers } from '../../workers/role.js';
import { startRedisCluster, type RedisClusterHandle } from '../../bench/lib/redis-topologies.js';
import { ok, startTargetServer, type TargetServer } from '../helpers/targets.js';
import { callbackKey } from '../helpers/zego-sender.js';
import { jsonBody, mixStopFields, sign, type Fields } from '../helpers/zego.js';
import { testConfig } from '../helpers/config.js';

let cluster: RedisClusterHandle;
let target: TargetServer;

beforeAll(async () => {
  cluster = await startRedisCluster({ replicasPerMaster: 0 });
  target = await startTargetServer(ok);
});
afterAll(async () => {
  await target?.close();
  await cluster?.stop();
});

const configWith = (shards: number, directFirstAttempt: boolean) =>
  testConfig({
    redis: { cluster: { nodes: [cluster.urls[0]!] } },
    prefix: `add-shard-${String(directFirstAttempt)}`,
    intake: { shards },
    targets: [{ name: 'billing', events: ['*'], url: target.url, directFirstAttempt }],
  });

async function post(port: number, body: string): Promise<{ status: number; code?: string }> {
  const response = await fetch(`http://127.0.0.1:${port}/zego/callback`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  const answer = (await response.json()) as { error?: { code: string } };
  return { status: response.status, ...(answer.error ? { code: answer.error.code } : {}) };
}

describe.each([false, true])('adding intake shards (directFirstAttempt: %s)', (directFirstAttempt) => {
  it('loses nothing across a restart with more shards, and a nonce bound before still refuses a replay', async () => {
    target.requests.length = 0;
    // Before: 2 shards, receivers only, so every callback is still in the intake when the change comes.
    const before = configWith(2, directFirstAttempt);
    const oldReceiver = await startReceiver(before, { logger: silentLogger });
    const early: Fields[] = Array.from({ length: 100 }, () => sign(mixStopFields()));
    for (const fields of early) expect((await post(oldReceiver.port, jsonBody(fields))).status).toBe(200);
    await oldReceiver.close();

    // After: 5 shards, receiver and routers restarted with the new config.
    const after = configWith(5, directFirstAttempt);
    const receiver = await startReceiver(after, { logger: silentLogger });
    const workers = await startWorkers(after, { logger: silentLogger });
    try {
      // ZEGO's retries of the early callbacks (fresh nonce, same body): 200, whichever shard they fall on now.
      for (const fields of early.slice(0, 50)) {
        const { timestamp: _timestamp, nonce: _nonce, signature: _signature, ...body } = fields;
        expect((await post(receiver.port, jsonBody(sign(body)))).status).toBe(200);
      }
      // A nonce bound before the change, replayed with a forged body after it.
      const captured = early[0]!;
      const forged = { ...mixStopFields(), timestamp: captured.timestamp!, nonce: captured.nonce!, signature: captured.signature! };
      expect(await post(receiver.port, jsonBody(forged))).toEqual({ status: 401, code: 'replayed_nonce' });

      const late: Fields[] = Array.from({ length: 100 }, () => sign(mixStopFields()));
      for (const fields of late) expect((await post(receiver.port, jsonBody(fields))).status).toBe(200);

      const keys = [...early, ...late].map((fields) => String(fields.task_id));
      const delivered = () => target.requests.map((request) => callbackKey(request.body));
      await expect.poll(() => new Set(delivered()).size, { timeout: 20_000 }).toBe(keys.length);
      const ours = delivered().filter((key) => keys.includes(key!));
      if (!directFirstAttempt) {
        // Each exactly once: the retries that fell on a new shard were routed again, and the job id
        // (the callback id) made BullMQ keep the one job it already had.
        expect(ours).toHaveLength(keys.length);
      } else {
        // A delivered first attempt leaves no job to recognise a second routing by: a retry that fell
        // on a new shard may be delivered again (at-least-once). Only those retries, never the rest.
        const resent = new Set(early.slice(0, 50).map((fields) => String(fields.task_id)));
        const twice = ours.filter((key, index) => ours.indexOf(key) !== index);
        expect(twice.every((key) => resent.has(key!))).toBe(true);
      }
    } finally {
      await receiver.close();
      await workers.close();
    }
  });
});
