/**
 * What the configured Redis really is, read from Redis itself: for a cluster its masters, their
 * slots and replicas; for Sentinel the primary the Sentinels name and its replicas; for one Redis
 * its role and replicas. `check-config` prints it and warns when `redis.waitReplicas` asks for more
 * replicas than exist or a master has none (a 200 could then be lost with that master).
 */
import type { Cluster, Redis } from 'ioredis';
import type { RedisSettings } from '../config/redis-topology.js';
import { withTimeout } from '../lib/with-timeout.js';
import { describeRedisError } from './outage.js';
import { createProducerConnection, createSentinelConnection, type RedisConnection } from './connection.js';

export interface MasterReport {
  /** `host:port` as Redis announces it. */
  readonly address: string;
  /** Slot ranges served (cluster only), e.g. `0-5460`. */
  readonly slots: readonly string[];
  readonly slotCount: number;
  /** `host:port` of each replica that is connected (online, not failed). */
  readonly replicas: readonly string[];
  /** Cluster: the intake shards whose stream lives on this master. */
  readonly intakeShards?: readonly number[];
}

export interface TopologyReport {
  readonly kind: RedisSettings['topology']['kind'];
  readonly masters: readonly MasterReport[];
  /** Cluster: slots served by some master (16384 when complete). */
  readonly slotsCovered?: number;
  /** Sentinel: how many Sentinels answered, of those configured. */
  readonly sentinelsAnswering?: number;
}

export const CLUSTER_SLOTS = 16_384;

export interface ProbeOptions {
  /** @defaultValue 3000 */
  readonly timeoutMs?: number;
  /** The intake streams' keys, shard 0 first: on a cluster, each is placed on its master. */
  readonly intakeStreams?: readonly string[];
}

/** Reads the topology; rejects when Redis cannot be reached within about `timeoutMs`. */
export async function probeTopology(settings: RedisSettings, options: ProbeOptions = {}): Promise<TopologyReport> {
  const timeoutMs = options.timeoutMs ?? 3_000;
  if (settings.topology.kind === 'sentinel') return probeSentinel(settings, timeoutMs);
  const connection = createProducerConnection(settings, {
    name: 'check-config',
    overrides: { lazyConnect: true, connectTimeout: timeoutMs, retryStrategy: () => null },
  });
  try {
    await connectWithin(connection, timeoutMs);
    return settings.topology.kind === 'cluster' ? await probeCluster(connection as Cluster, options.intakeStreams ?? []) : await probeSingle(connection as Redis);
  } finally {
    connection.disconnect();
  }
}

/** The warnings a topology deserves, one sentence each, naming `redis.waitReplicas` where it is the cause. */
export function topologyWarnings(report: TopologyReport, waitReplicas: number): string[] {
  const warnings: string[] = [];
  if (report.slotsCovered !== undefined && report.slotsCovered < CLUSTER_SLOTS) {
    warnings.push(`the cluster serves ${report.slotsCovered} of ${CLUSTER_SLOTS} slots: callbacks whose keys fall in the others get 503`);
  }
  for (const master of report.masters) {
    const where = report.kind === 'cluster' ? `cluster master ${master.address} (slots ${master.slots.join(', ')})` : `the primary ${master.address}`;
    if (waitReplicas > master.replicas.length) {
      warnings.push(
        `redis.waitReplicas is ${waitReplicas} but ${where} has ${master.replicas.length} replica(s): callbacks it stores are answered 503 until enough replicas are connected`,
      );
    } else if (master.replicas.length === 0 && report.kind !== 'single') {
      warnings.push(`${where} has no replica: if it dies, its slots stop taking callbacks and what it held since its last AOF write is lost`);
    }
    if (master.intakeShards?.length === 0) {
      warnings.push(`${where} holds no intake shard: raise intake.shards (e.g. to ${2 * report.masters.length}) so every master takes a share of the receivers' writes`);
    }
  }
  return warnings;
}

/** The report as lines for people (indented under check-config's `redis:` line). */
export function formatTopology(report: TopologyReport): string[] {
  const lines: string[] = [];
  if (report.kind === 'cluster') {
    lines.push(`cluster: ${report.masters.length} master(s), ${report.slotsCovered ?? 0} of ${CLUSTER_SLOTS} slots served`);
  } else if (report.kind === 'sentinel') {
    lines.push(`sentinel: ${report.sentinelsAnswering ?? 0} Sentinel(s) answered`);
  }
  for (const master of report.masters) {
    lines.push(
      `  ${report.kind === 'cluster' ? 'master' : 'primary'} ${master.address}` +
        (report.kind === 'cluster' ? `  slots ${master.slots.join(', ')} (${master.slotCount})` : '') +
        (master.intakeShards ? `  intake shards: ${master.intakeShards.length > 0 ? master.intakeShards.join(', ') : 'none'}` : '') +
        `  replicas: ${master.replicas.length > 0 ? master.replicas.join(', ') : 'none'}`,
    );
  }
  return lines;
}

async function probeSingle(connection: Redis): Promise<TopologyReport> {
  const info = parseInfo(await connection.info('replication'));
  const replicas = onlineReplicas(info);
  const { host, port } = connection.options;
  return { kind: 'single', masters: [{ address: `${host}:${port}`, slots: [], slotCount: 0, replicas }] };
}

async function probeCluster(connection: Cluster, intakeStreams: readonly string[]): Promise<TopologyReport> {
  const streamSlots = await Promise.all(intakeStreams.map(async (key) => Number(await connection.cluster('KEYSLOT', key))));
  // CLUSTER NODES, not SLOTS: SLOTS leaves out a replica until it has reported a replication offset.
  const lines = String(await connection.cluster('NODES')).trim().split('\n');
  const nodes = lines.map((line) => {
    const [id, address, flags, masterId, , , , linkState, ...slots] = line.trim().split(' ');
    return { id: id!, address: (address ?? '').split('@')[0]!, flags: (flags ?? '').split(','), masterId: masterId!, linkState, slots };
  });
  const healthy = (node: (typeof nodes)[number]) =>
    node.linkState === 'connected' && !node.flags.some((flag) => flag === 'fail' || flag === 'fail?' || flag === 'noaddr' || flag === 'handshake');
  let covered = 0;
  const masters = nodes
    .filter((node) => node.flags.includes('master') && node.slots.some((range) => !range.startsWith('[')))
    .map((master) => {
      const ranges = master.slots.filter((range) => !range.startsWith('['));
      const slotCount = ranges.reduce((sum, range) => {
        const [start, end] = range.split('-').map(Number);
        return sum + (end ?? start!) - start! + 1;
      }, 0);
      // A failed master's slots are not served, whatever the map says.
      if (healthy(master)) covered += slotCount;
      const replicas = nodes.filter((node) => node.masterId === master.id && healthy(node)).map((node) => node.address).sort();
      const owns = (slot: number) =>
        ranges.some((range) => {
          const [start, end] = range.split('-').map(Number);
          return slot >= start! && slot <= (end ?? start!);
        });
      const intakeShards = streamSlots.flatMap((slot, shard) => (owns(slot) ? [shard] : []));
      return { address: master.address, slots: ranges, slotCount, replicas, ...(intakeStreams.length > 0 ? { intakeShards } : {}) };
    })
    .sort((a, b) => a.address.localeCompare(b.address));
  return { kind: 'cluster', masters, slotsCovered: covered };
}

async function probeSentinel(settings: RedisSettings, timeoutMs: number): Promise<TopologyReport> {
  if (settings.topology.kind !== 'sentinel') throw new Error('not a Sentinel configuration');
  const { name, sentinels } = settings.topology;
  let answering = 0;
  let master: MasterReport | undefined;
  let lastError: unknown;
  await Promise.all(
    sentinels.map(async (_node, index) => {
      const sentinel = createSentinelConnection(settings, index, { lazyConnect: true, connectTimeout: timeoutMs, retryStrategy: () => null });
      try {
        await connectWithin(sentinel, timeoutMs);
        const fields = pairs((await sentinel.call('SENTINEL', 'MASTER', name)) as string[]);
        const replicas = ((await sentinel.call('SENTINEL', 'REPLICAS', name)) as string[][]).map(pairs);
        answering += 1;
        master ??= {
          address: `${fields.ip}:${fields.port}`,
          slots: [],
          slotCount: 0,
          replicas: replicas
            .filter((replica) => !/s_down|o_down|disconnected/.test(replica.flags ?? '') && replica['master-link-status'] === 'ok')
            .map((replica) => `${replica.ip}:${replica.port}`)
            .sort(),
        };
      } catch (error) {
        lastError = error;
      } finally {
        sentinel.disconnect();
      }
    }),
  );
  if (!master) throw lastError instanceof Error ? lastError : new Error(`no Sentinel knows a master named "${name}"`);
  return { kind: 'sentinel', masters: [master], sentinelsAnswering: answering };
}

function parseInfo(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const at = line.indexOf(':');
    if (at > 0 && !line.startsWith('#')) fields[line.slice(0, at)] = line.slice(at + 1);
  }
  return fields;
}

/** `slave0:ip=...,port=...,state=online,...` lines of INFO replication. */
function onlineReplicas(info: Record<string, string>): string[] {
  return Object.entries(info)
    .filter(([key]) => /^slave\d+$/.test(key))
    .map(([, value]) => Object.fromEntries(value.split(',').map((part) => part.split('=') as [string, string])))
    .filter((replica) => replica.state === 'online')
    .map((replica) => `${replica.ip}:${replica.port}`);
}

/** A flat [key, value, key, value, ...] reply as an object. */
function pairs(reply: string[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let index = 0; index + 1 < reply.length; index += 2) fields[reply[index]!] = reply[index + 1]!;
  return fields;
}

/** `connect()` within the deadline; the timeout error carries the connection's last error. */
function connectWithin(connection: RedisConnection | Redis, timeoutMs: number): Promise<void> {
  let lastError: unknown;
  connection.on('error', (error: unknown) => (lastError = error));
  return withTimeout(connection.connect(), timeoutMs, () => {
    const cause = lastError ? ` (${describeRedisError(lastError).message})` : '';
    return new Error(`no answer within ${timeoutMs / 1000} s${cause}`);
  });
}
