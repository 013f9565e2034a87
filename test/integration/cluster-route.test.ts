/**
 * Where a confirmed write goes on a Redis Cluster (src/intake/cluster-route.ts), on a real
 * two-node cluster started here (two redis-servers, no replicas: cheap enough for `npm test`):
 * the master that owns the key's slot runs the script; a slot that changed owner is followed
 * through the MOVED answer, also to a node the cluster client had never connected to. Failovers
 * (a master killed) are `npm run test:cluster`'s. Also: telling a cluster connection from a single
 * one, by ioredis' public class.
 */
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ClusterRoute, slotOwners } from '../../src/intake/cluster-route.js';
import { isCluster } from '../../src/redis/connection-kind.js';
import type { IntakeScript } from '../../src/intake/script.js';
import { keySlot } from '../../src/intake/key-slot.js';
import { freePort, startRedisServer, type RedisServer } from '../helpers/redis.js';

/** Writes ARGV[1] under KEYS[1]. */
const WRITE: IntakeScript = {
  command: 'clusterRouteTestWrite',
  numberOfKeys: 1,
  lua: "redis.call('SET', KEYS[1], ARGV[1]) return 'written'",
};

/** A cluster-enabled redis-server, and the port of its cluster bus (which CLUSTER MEET names). */
async function clusterNode(): Promise<RedisServer & { busPort: number }> {
  const busPort = await freePort();
  const server = await startRedisServer({
    extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-port', String(busPort), '--cluster-announce-ip', '127.0.0.1', '--cluster-require-full-coverage', 'no'],
  });
  return Object.assign(server, { busPort });
}

async function ask<T>(server: RedisServer, ...args: Array<string | number>): Promise<T> {
  const client = new Redis(server.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    return (await client.call(String(args[0]), ...args.slice(1))) as T;
  } finally {
    client.disconnect();
  }
}

let first: Awaited<ReturnType<typeof clusterNode>>;
let second: Awaited<ReturnType<typeof clusterNode>>;
let cluster: Cluster;

beforeAll(async () => {
  [first, second] = await Promise.all([clusterNode(), clusterNode()]);
  await ask(first, 'CLUSTER', 'ADDSLOTSRANGE', 0, 16_383);
  await vi.waitFor(async () => expect(await ask<string>(first, 'CLUSTER', 'INFO')).toContain('cluster_state:ok'), { timeout: 10_000, interval: 50 });
  cluster = new Cluster([{ host: '127.0.0.1', port: first.port }], { lazyConnect: true });
  cluster.on('error', () => {});
  await cluster.connect();
});

afterAll(async () => {
  cluster?.disconnect();
  await Promise.all([first?.stop(), second?.stop()]);
});

/** A key of another slot than `other`'s. */
const keyBesides = (other: string) => ['k-a', 'k-b', 'k-c', 'k-d'].find((key) => keySlot(key) !== keySlot(other))!;

describe('isCluster', () => {
  it('tells a Cluster from a single connection by class, without connecting', () => {
    const single = new Redis({ lazyConnect: true });
    const lazyCluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true });
    expect(isCluster(lazyCluster)).toBe(true);
    expect(isCluster(single)).toBe(false);
    expect(isCluster(cluster)).toBe(true);
    single.disconnect();
    lazyCluster.disconnect();
  });
});

describe('slotOwners (a CLUSTER SLOTS reply as slot -> master)', () => {
  it('maps every slot of each range to its master, an empty host meaning the node asked', () => {
    const owners = slotOwners([[0, 99, ['10.0.0.1', 7000, 'id1']], [100, 16_383, ['', 7001, 'id2'], ['10.0.0.3', 7002, 'id3']]], '10.0.0.2');
    expect(owners).toHaveLength(16_384);
    expect([owners[0], owners[99], owners[100], owners[16_383]]).toEqual(['10.0.0.1:7000', '10.0.0.1:7000', '10.0.0.2:7001', '10.0.0.2:7001']);
  });

  it('leaves a slot no master serves unknown', () => {
    expect(slotOwners([[1, 2, ['h', 1]]], 'h')[0]).toBeUndefined();
  });
});

describe('ClusterRoute', () => {
  it("runs the script on the master owning the key's slot and says which connection that was", async () => {
    const route = new ClusterRoute(cluster);
    const { node, reply } = await route.run(WRITE, ['route-one'], ['v1'], Date.now() + 1_500);
    expect(reply).toBe('written');
    expect(node.options.port).toBe(first.port);
    expect(await ask<string>(first, 'GET', 'route-one')).toBe('v1');
  });

  it('follows a slot to its new owner through MOVED, also to a node the client had never connected to', async () => {
    const route = new ClusterRoute(cluster);
    const moved = 'route-moved';
    // The route reads the slot map once, here: every slot on the first node.
    expect((await route.run(WRITE, [keyBesides(moved)], ['before'], Date.now() + 1_500)).node.options.port).toBe(first.port);

    // The second node joins, and the (empty) slot of `moved` is given to it.
    await ask(second, 'CLUSTER', 'MEET', '127.0.0.1', first.port, first.busPort);
    const secondId = await ask<string>(second, 'CLUSTER', 'MYID');
    await expect.poll(async () => (await ask<string>(first, 'CLUSTER', 'NODES')).includes(`${secondId} 127.0.0.1:${second.port}`), { timeout: 10_000 }).toBe(true);
    await expect.poll(async () => !(await ask<string>(first, 'CLUSTER', 'NODES')).includes('handshake'), { timeout: 10_000 }).toBe(true);
    await expect.poll(() => ask<string>(second, 'CLUSTER', 'INFO'), { timeout: 10_000 }).toContain('cluster_state:ok');
    await ask(second, 'CLUSTER', 'SETSLOT', keySlot(moved), 'NODE', secondId);
    await ask(first, 'CLUSTER', 'SETSLOT', keySlot(moved), 'NODE', secondId);
    expect(cluster.nodes('all').map((node) => node.options.port)).not.toContain(second.port);

    // A generous deadline: the route may ask again while ioredis meets the new owner, and the
    // machine running the tests may be busy; the receiver's own deadline is its store's.
    const { node, reply } = await route.run(WRITE, [moved], ['after'], Date.now() + 10_000);
    expect(reply).toBe('written');
    expect(node.options.port).toBe(second.port);
    expect(await ask<string>(second, 'GET', moved)).toBe('after');
  });
});
