/**
 * check-config against real topologies: a Redis Cluster of 3 masters + 3 replicas and a Sentinel
 * setup (1 primary + 1 replica + 3 Sentinels). It shows masters, slots and replicas (or the primary
 * and its replicas) and warns when waitReplicas asks for more replicas than exist or a master has
 * none. Also: the relay's connections work on both, through the one factory.
 */
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeConnection, createProducerConnection } from '../../src/redis/connection.js';
import { probeTopology, topologyWarnings } from '../../src/redis/topology-probe.js';
import { runCli } from '../helpers/cli.js';
import { startRedisCluster, startSentinelSetup, type RedisClusterHandle, type SentinelHandle } from '../../bench/lib/redis-topologies.js';
import { testConfig, testConfigObject } from '../helpers/config.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'zego-relay-topology-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configFile(name: string, redis: Record<string, unknown>, intake: Record<string, unknown> = {}): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ ...testConfigObject({ redisUrl: 'redis://unused' }), redis, intake }));
  return path;
}

describe('a Redis Cluster of 3 masters + 3 replicas', () => {
  let cluster: RedisClusterHandle;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  });
  afterAll(async () => cluster?.stop());

  it('check-config shows its masters, slots and replicas, and warns about waitReplicas beyond them', async () => {
    const ok = await runCli(['check-config', '--config', configFile('cluster.yaml', { cluster: { nodes: cluster.urls.slice(0, 2) }, waitReplicas: 1, prefix: 'zr' }, { shards: 12 })]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('cluster: 3 master(s), 16384 of 16384 slots served');
    const masters = [...ok.stdout.matchAll(/^ {4}master 127\.0\.0\.1:\d+ {2}slots \d+-\d+ \(\d+\) {2}intake shards: ([\d, ]+) {2}replicas: 127\.0\.0\.1:\d+$/gm)];
    expect(masters).toHaveLength(3);
    // Every shard is placed, once, on the master that owns its stream's slot.
    expect(masters.flatMap((line) => line[1]!.split(', ').map(Number)).sort((a, b) => a - b)).toEqual([...Array(12).keys()]);
    expect(ok.stdout).not.toContain('waitReplicas is');
    expect(ok.stdout).not.toContain('holds no intake shard');

    const oneShard = await runCli(['check-config', '--config', configFile('one-shard.yaml', { cluster: { nodes: cluster.urls } })]);
    expect(oneShard.stdout.match(/holds no intake shard: raise intake\.shards \(e\.g\. to 6\)/g)).toHaveLength(2);

    const greedy = await runCli(['check-config', '--config', configFile('greedy.yaml', { cluster: { nodes: cluster.urls }, waitReplicas: 2 })]);
    expect(greedy.code).toBe(0);
    expect(greedy.stdout.match(/redis\.waitReplicas is 2 but cluster master 127\.0\.0\.1:\d+ \(slots [\d-]+\) has 1 replica\(s\)/g)).toHaveLength(3);
  });

  it('reports a master without a replica once its replica is gone', async () => {
    const before = await cluster.state();
    const replica = before.find((node) => node.role === 'replica')!;
    await cluster.killAndWaitForFailover(replica.port);
    const config = testConfig({ redis: { cluster: { nodes: cluster.urls.filter((url) => !url.endsWith(`:${replica.port}`)) } } });
    const orphans = async () => (await probeTopology(config.redis)).masters.filter((master) => master.replicas.length === 0).length;
    await expect.poll(orphans, { timeout: 15_000 }).toBe(1);
    const found = await probeTopology(config.redis);
    const warnings = topologyWarnings(found, 0);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^cluster master 127\.0\.0\.1:\d+ \(slots [\d-]+\) has no replica/);
  });

  it('the factory connection reads and writes keys on every master', async () => {
    const config = testConfig({ redis: { cluster: { nodes: [cluster.urls[0]!] } } });
    const connection = createProducerConnection(config.redis, 'test');
    try {
      await expect.poll(() => connection.status, { timeout: 10_000 }).toBe('ready');
      for (const key of ['a', 'b', 'c', 'd', 'e', 'f']) await connection.set(`{${key}}`, key);
      expect(await Promise.all(['a', 'b', 'c', 'd', 'e', 'f'].map((key) => connection.get(`{${key}}`)))).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    } finally {
      await closeConnection(connection);
    }
  });
});

describe('a Sentinel setup: 1 primary + 1 replica + 3 Sentinels', () => {
  let sentinel: SentinelHandle;
  beforeAll(async () => {
    sentinel = await startSentinelSetup();
  });
  afterAll(async () => sentinel?.stop());

  it('check-config shows the primary the Sentinels name and its replica; warns when waitReplicas exceeds it', async () => {
    const redis = { sentinel: { name: sentinel.masterName, nodes: sentinel.sentinelUrls } };
    const ok = await runCli(['check-config', '--config', configFile('sentinel.yaml', { ...redis, waitReplicas: 1 })]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('sentinel: 3 Sentinel(s) answered');
    expect(ok.stdout).toContain(`primary 127.0.0.1:${sentinel.primary.port}  replicas: 127.0.0.1:${sentinel.replicas[0]!.port}`);
    expect(ok.stdout).not.toContain('waitReplicas is');
    const greedy = await runCli(['check-config', '--config', configFile('sentinel-greedy.yaml', { ...redis, waitReplicas: 2 })]);
    expect(greedy.stdout).toContain(`redis.waitReplicas is 2 but the primary 127.0.0.1:${sentinel.primary.port} has 1 replica(s)`);
  });
});
