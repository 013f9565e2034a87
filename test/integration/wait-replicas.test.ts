/**
 * redis.waitReplicas: the receiver answers 200 only once that many replicas hold the callback
 * (Redis WAIT on the connection that wrote it), else 503 within 2 s; ZEGO's retry is then answered
 * once the replica has caught up. One primary and one real replica; SIGSTOP makes the replica lag.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/lib/logger.js';
import { startReceiver, type ReceiverHandle } from '../../src/receive/server.js';
import { intakeKeys } from '../../src/shared/names.js';
import { startRedisServer, type RedisServer } from '../helpers/redis.js';
import { startReplicaOf } from '../../bench/lib/redis-topologies.js';
import { jsonBody, mixStopFields, sign } from '../helpers/zego.js';
import { testConfig } from '../helpers/config.js';

let primary: RedisServer;
let replica: RedisServer;
let replicaReader: Redis;
const receivers: ReceiverHandle[] = [];

beforeAll(async () => {
  primary = await startRedisServer({ appendfsync: 'everysec' });
  replica = await startReplicaOf(primary, 'everysec');
  replicaReader = new Redis(replica.url);
});

afterAll(async () => {
  replica?.resume();
  await Promise.all(receivers.map((receiver) => receiver.close()));
  replicaReader?.disconnect();
  await replica?.stop();
  await primary?.stop();
});

async function relay(waitReplicas: number, prefix: string) {
  const config = testConfig({ redis: { url: primary.url, waitReplicas }, prefix });
  const receiver = await startReceiver(config, { logger: silentLogger });
  receivers.push(receiver);
  const post = async (body: string) => {
    const started = Date.now();
    const response = await fetch(`http://127.0.0.1:${receiver.port}/zego/callback`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    return { status: response.status, ms: Date.now() - started, body: (await response.json()) as { id?: string; duplicate?: boolean } };
  };
  return { config, post };
}

describe('redis.waitReplicas', () => {
  it('answers 200 once the replica holds the callback: it is on the replica when the 200 arrives', async () => {
    const { config, post } = await relay(1, 'wait-ok');
    for (let index = 0; index < 20; index += 1) {
      const answer = await post(jsonBody(sign(mixStopFields())));
      expect(answer.status).toBe(200);
      // Read on the replica right after the 200: WAIT made sure it is there.
      expect(await replicaReader.exists(intakeKeys(config.redis.prefix, 0).seen(answer.body.id!))).toBe(1);
    }
  });

  it('answers 503 within 2 s while the replica lags, and 200 (duplicate) to the retry once it caught up', async () => {
    const first = await relay(1, 'wait-lag');
    const second = await relay(1, 'wait-lag');
    const fields = mixStopFields();
    const body = jsonBody(sign(fields));
    replica.pause();
    try {
      const lagging = await first.post(body);
      expect(lagging.status).toBe(503);
      expect(lagging.ms).toBeLessThan(2_000);
      // The same bytes through another receiver (another connection, which wrote nothing yet):
      // a duplicate on the primary, with its nonce already bound, so the script has nothing to
      // write. It must still not be answered 200 before the replica holds the callback.
      const elsewhere = await second.post(body);
      expect(elsewhere.status).toBe(503);
    } finally {
      replica.resume();
    }
    const retry = await second.post(jsonBody(sign(fields)));
    expect(retry.status).toBe(200);
    expect(retry.body.duplicate).toBe(true);
  });

  it('answers 503 when more replicas are asked for than exist, and 200 with waitReplicas 0', async () => {
    const greedy = await relay(2, 'wait-greedy');
    const answer = await greedy.post(jsonBody(sign(mixStopFields())));
    expect(answer.status).toBe(503);
    expect(answer.ms).toBeLessThan(2_000);
    const plain = await relay(0, 'wait-none');
    expect((await plain.post(jsonBody(sign(mixStopFields())))).status).toBe(200);
  });
});
