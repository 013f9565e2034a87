/**
 * Real Redis topologies for the scale-out tests and the benchmark's cluster section, from
 * `redis-server` on free ports, each node with its own temp dir and AOF:
 * - a Redis Cluster (`--cluster-enabled yes`, `redis-cli --cluster create ... --cluster-replicas 1`);
 * - a Sentinel setup: a primary, its replicas and `redis-server --sentinel` processes watching it.
 * Failure detection is tuned short (about a second) so a failover fits in a test. `stop()` kills
 * every process and removes every dir.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, startRedisServer, type RedisServer } from '../../src/dev/redis-process.js';

const run = promisify(execFile);

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last instanceof Error ? ` (${last.message})` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Runs one command on a fresh plain connection to 127.0.0.1:port. */
async function ask<T>(port: number, command: string, ...args: (string | number)[]): Promise<T> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1_000, commandTimeout: 2_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.call(command, ...args)) as T;
  } finally {
    client.disconnect();
  }
}

export interface ClusterNode {
  readonly port: number;
  readonly server: RedisServer;
}

export interface ClusterNodeState {
  readonly port: number;
  readonly id: string;
  readonly role: 'master' | 'replica';
  /** For a replica, the id of its master. */
  readonly masterId?: string;
  readonly failed: boolean;
  readonly slots: number;
}

export interface RedisClusterHandle {
  readonly nodes: readonly ClusterNode[];
  /** `redis://127.0.0.1:PORT` of every node, for `redis.cluster.nodes`. */
  readonly urls: readonly string[];
  /** What the cluster says about its nodes now (asked of a live node). */
  state(): Promise<ClusterNodeState[]>;
  /** The port of the master serving `slot`. */
  masterOfSlot(slot: number): Promise<number>;
  /** SIGKILLs a node and waits until a replica took over its slots (when it was a master). */
  killAndWaitForFailover(port: number): Promise<{ promoted: number; tookMs: number }>;
  /** Starts a killed node again (same port and dir): it rejoins as a replica; resolves once it has synced. */
  restartAsReplica(port: number): Promise<{ tookMs: number }>;
  stop(): Promise<void>;
}

export interface ClusterOptions {
  readonly masters?: number;
  readonly replicasPerMaster?: number;
  readonly appendfsync?: 'always' | 'everysec';
  /** cluster-node-timeout: how long until a silent master is declared failed. @defaultValue 1000 */
  readonly nodeTimeoutMs?: number;
}

/** A cluster of `masters` masters (default 3), each with `replicasPerMaster` replicas (default 1). */
export async function startRedisCluster(options: ClusterOptions = {}): Promise<RedisClusterHandle> {
  const masters = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 1;
  const nodes: ClusterNode[] = [];
  try {
    for (let index = 0; index < masters * (1 + replicas); index += 1) {
      const busPort = await freePort();
      const server = await startRedisServer({
        appendfsync: options.appendfsync ?? 'always',
        extraArgs: [
          '--cluster-enabled', 'yes',
          '--cluster-config-file', 'nodes.conf',
          '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 1_000),
          '--cluster-port', String(busPort),
          // A lone master that never met another node would announce an empty address.
          '--cluster-announce-ip', '127.0.0.1',
          // A lone master may still serve the slots it has while others are down.
          '--cluster-require-full-coverage', 'no',
        ],
      });
      nodes.push({ port: server.port, server });
    }
    if (masters === 1 && replicas === 0) {
      await ask(nodes[0]!.port, 'CLUSTER', 'ADDSLOTSRANGE', 0, 16_383);
    } else {
      await run('redis-cli', [
        '--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`),
        '--cluster-replicas', String(replicas), '--cluster-yes',
      ], { timeout: 60_000 });
    }
  } catch (error) {
    await Promise.allSettled(nodes.map((node) => node.server.stop()));
    throw error;
  }

  const killed = new Set<number>();
  const live = () => nodes.filter((node) => !killed.has(node.port));
  const state = async (): Promise<ClusterNodeState[]> => {
    for (const node of live()) {
      try {
        return parseClusterNodes(await ask<string>(node.port, 'CLUSTER', 'NODES'), nodes);
      } catch {
        // That node is not answering; ask the next.
      }
    }
    throw new Error('no cluster node answers');
  };
  const handle: RedisClusterHandle = {
    nodes,
    urls: nodes.map((node) => node.server.url),
    state,
    async masterOfSlot(slot) {
      const ranges = await ask<[number, number, [string, number]][]>(live()[0]!.port, 'CLUSTER', 'SLOTS');
      const range = ranges.find(([start, end]) => slot >= start && slot <= end);
      if (!range) throw new Error(`slot ${slot} is not served`);
      return Number(range[2][1]);
    },
    async killAndWaitForFailover(port) {
      const before = await state();
      const victim = before.find((node) => node.port === port);
      const node = nodes.find((candidate) => candidate.port === port);
      if (!victim || !node) throw new Error(`no node on port ${port}`);
      const started = Date.now();
      killed.add(port);
      await node.server.kill();
      if (victim.role !== 'master') return { promoted: port, tookMs: 0 };
      const promoted = await until('a replica to take over', async () => {
        const now = await state();
        const heir = now.find((candidate) => candidate.role === 'master' && !candidate.failed && before.find((b) => b.port === candidate.port)?.masterId === victim.id);
        return heir && heir.slots > 0 ? heir.port : undefined;
      });
      await until('every slot served', async () => ((await ask<string>(promoted, 'CLUSTER', 'INFO')).includes('cluster_state:ok') ? true : undefined));
      return { promoted, tookMs: Date.now() - started };
    },
    async restartAsReplica(port) {
      const node = nodes.find((candidate) => candidate.port === port);
      if (!node) throw new Error(`no node on port ${port}`);
      const started = Date.now();
      await node.server.restart();
      killed.delete(port);
      await until('the restarted node to sync as a replica', async () =>
        (await ask<string>(port, 'INFO', 'replication')).includes('master_link_status:up') ? true : undefined);
      return { tookMs: Date.now() - started };
    },
    async stop() {
      await Promise.allSettled(nodes.map((node) => node.server.stop()));
    },
  };
  try {
    await until('the cluster to be ready', async () => {
      for (const node of nodes) if (!(await ask<string>(node.port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) return undefined;
      const now = await state();
      const connected = now.filter((node) => node.role === 'replica').length === masters * replicas;
      if (!connected) return undefined;
      // Each replica has finished its first sync (WAIT counts only replicas that acknowledge).
      for (const node of now.filter((candidate) => candidate.role === 'replica')) {
        if (!(await ask<string>(node.port, 'INFO', 'replication')).includes('master_link_status:up')) return undefined;
      }
      return true;
    });
  } catch (error) {
    await handle.stop();
    throw error;
  }
  return handle;
}

function parseClusterNodes(text: string, nodes: readonly ClusterNode[]): ClusterNodeState[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id, address, flags, masterId, , , , , ...slots] = line.trim().split(' ');
      const port = Number(/:(\d+)@/.exec(address ?? '')?.[1]);
      const slotCount = slots.reduce((sum, range) => {
        if (range.startsWith('[')) return sum;
        const [start, end] = range.split('-').map(Number);
        return sum + ((end ?? start!) - start! + 1);
      }, 0);
      return {
        port,
        id: id!,
        role: flags!.includes('master') ? 'master' as const : 'replica' as const,
        ...(masterId && masterId !== '-' ? { masterId } : {}),
        // `fail` is a confirmed failure; `fail?` only one node's suspicion.
        failed: /(^|,)fail(,|$)/.test(flags!),
        slots: slotCount,
      };
    })
    .filter((node) => nodes.some((known) => known.port === node.port));
}

/** A replica of `primary`, resolved once its first sync is done (WAIT counts it from then on). */
export async function startReplicaOf(primary: RedisServer, appendfsync: 'always' | 'everysec' = 'always'): Promise<RedisServer> {
  const replica = await startRedisServer({ appendfsync, extraArgs: ['--replicaof', '127.0.0.1', String(primary.port)] });
  try {
    await until('the replica to sync', async () => ((await ask<string>(replica.port, 'INFO', 'replication')).includes('master_link_status:up') ? true : undefined));
  } catch (error) {
    await replica.stop();
    throw error;
  }
  return replica;
}

export interface SentinelHandle {
  readonly primary: RedisServer;
  readonly replicas: readonly RedisServer[];
  readonly sentinelPorts: readonly number[];
  /** `redis://127.0.0.1:PORT` of each Sentinel, for `redis.sentinel.nodes`. */
  readonly sentinelUrls: readonly string[];
  readonly masterName: string;
  /** The port of the primary the Sentinels name now. */
  primaryPort(): Promise<number>;
  /** SIGKILLs the current primary and waits until the Sentinels name another one. */
  killPrimaryAndWaitForFailover(): Promise<{ promoted: number; tookMs: number; killed: number }>;
  /**
   * Starts a killed server again as the current primary's replica (as a supervisor that starts it
   * with `replicaof` would; the Sentinels alone take 10 s or more to convert it); resolves once it
   * has synced.
   */
  restartAsReplica(port: number): Promise<{ tookMs: number }>;
  stop(): Promise<void>;
}

/** A primary, `replicas` replicas (default 1) and `sentinels` Sentinels (default 3, quorum 2). */
export async function startSentinelSetup(options: { replicas?: number; sentinels?: number; appendfsync?: 'always' | 'everysec' } = {}): Promise<SentinelHandle> {
  const masterName = 'relaymaster';
  const appendfsync = options.appendfsync ?? 'always';
  const servers: RedisServer[] = [];
  const sentinels: { port: number; child: ChildProcess; dir: string }[] = [];
  const stop = async () => {
    for (const sentinel of sentinels) {
      if (sentinel.child.exitCode === null) {
        const exited = new Promise((resolve) => sentinel.child.once('exit', resolve));
        sentinel.child.kill('SIGKILL');
        await exited;
      }
      rmSync(sentinel.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    }
    await Promise.allSettled(servers.map((server) => server.stop()));
  };
  try {
    const primary = await startRedisServer({ appendfsync });
    servers.push(primary);
    for (let index = 0; index < (options.replicas ?? 1); index += 1) servers.push(await startReplicaOf(primary, appendfsync));
    const count = options.sentinels ?? 3;
    for (let index = 0; index < count; index += 1) {
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), 'zego-relay-sentinel-'));
      writeFileSync(join(dir, 'sentinel.conf'), [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${masterName} 127.0.0.1 ${primary.port} 2`,
        `sentinel down-after-milliseconds ${masterName} 1000`,
        `sentinel failover-timeout ${masterName} 5000`,
        `sentinel parallel-syncs ${masterName} 1`,
        '',
      ].join('\n'));
      const child = spawn('redis-server', [join(dir, 'sentinel.conf'), '--sentinel', '--loglevel', 'warning'], { stdio: ['ignore', 'ignore', 'inherit'] });
      sentinels.push({ port, child, dir });
    }
    // Ready: every Sentinel answers, sees the replicas and knows the other Sentinels.
    await until('the Sentinels to see the primary, its replicas and each other', async () => {
      for (const { port } of sentinels) {
        const master = await ask<string[]>(port, 'SENTINEL', 'MASTER', masterName);
        const fields = Object.fromEntries(master.flatMap((value, index) => (index % 2 === 0 ? [[value, master[index + 1]]] : [])));
        if (Number(fields['num-slaves']) < servers.length - 1 || Number(fields['num-other-sentinels']) < count - 1) return undefined;
      }
      for (const replica of servers.slice(1)) {
        if (!(await ask<string>(replica.port, 'INFO', 'replication')).includes('master_link_status:up')) return undefined;
      }
      return true;
    });
  } catch (error) {
    await stop();
    throw error;
  }
  const primaryPort = async () => {
    for (const { port } of sentinels) {
      try {
        const [, announced] = await ask<[string, string]>(port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName);
        return Number(announced);
      } catch {
        // Ask the next Sentinel.
      }
    }
    throw new Error('no Sentinel answers');
  };
  return {
    primary: servers[0]!,
    replicas: servers.slice(1),
    sentinelPorts: sentinels.map((sentinel) => sentinel.port),
    sentinelUrls: sentinels.map((sentinel) => `redis://127.0.0.1:${sentinel.port}`),
    masterName,
    primaryPort,
    async killPrimaryAndWaitForFailover() {
      const before = await primaryPort();
      const victim = servers.find((server) => server.port === before);
      if (!victim) throw new Error(`no server on port ${before}`);
      const started = Date.now();
      await victim.kill();
      const promoted = await until('the Sentinels to promote a replica', async () => {
        const now = await primaryPort();
        if (now === before) return undefined;
        return (await ask<string>(now, 'INFO', 'replication')).includes('role:master') ? now : undefined;
      });
      return { promoted, tookMs: Date.now() - started, killed: before };
    },
    async restartAsReplica(port) {
      const server = servers.find((candidate) => candidate.port === port);
      if (!server) throw new Error(`no server on port ${port}`);
      const started = Date.now();
      await server.restart();
      await ask(port, 'REPLICAOF', '127.0.0.1', await primaryPort());
      // Redis' own resync (the Sentinels may point it at the primary again meanwhile): on a loaded
      // 2-core machine it took more than 30 s once in CI, so it gets a minute.
      await until('the restarted server to sync as a replica', async () => {
        const info = await ask<string>(port, 'INFO', 'replication');
        return info.includes('role:slave') && info.includes('master_link_status:up') ? true : undefined;
      }, 60_000);
      return { tookMs: Date.now() - started };
    },
    stop,
  };
}
