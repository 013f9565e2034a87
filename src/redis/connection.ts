/**
 * The one place that builds the relay's Redis connections, from `config.redis`: one Redis, a
 * Redis Cluster (ioredis Cluster) or a Sentinel-watched primary (ioredis `sentinels`), with TLS when
 * the URLs say rediss://. Two kinds:
 * - producer: the receiver, Bull Board, the admin API, `replay`, health checks, `check-config`.
 *   Fails fast (no offline queue, a command timeout) so a Redis outage turns into a quick 503
 *   instead of a hanging request;
 * - worker: BullMQ workers and other blocking readers. Retries forever (maxRetriesPerRequest
 *   null), as BullMQ requires; BullMQ handles the waits.
 * A connection given an outage log reports to it: one line when Redis goes away and one when it is
 * back, per role, instead of a line per reconnect attempt.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisSettings } from '../config/redis-topology.js';
import { withTimeout } from '../lib/with-timeout.js';
import type { RedisOutageLog } from './outage.js';

/** Any connection the factory builds: the rest of the code uses what both have in common. */
export type RedisConnection = Redis | Cluster;

/** How long the receiver waits for Redis before answering 503 (docs/PROTOCOL.md#the-receiver promises 503 within 2 s). */
export const PRODUCER_COMMAND_TIMEOUT_MS = 1_500;

const reconnect = (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2_000);

export interface ConnectionPurpose {
  /** Shown by CLIENT LIST as `zego-relay:NAME`. */
  readonly name: string;
  /** The role's outage log (redis-outage.ts), if this connection's trouble should be reported. */
  readonly outage?: RedisOutageLog;
  /** Options on top of the kind's, e.g. `enableAutoPipelining` or a one-shot probe's `retryStrategy`. */
  readonly overrides?: Partial<RedisOptions>;
}

/** For the receiver, admin reads and CLI commands: never queue commands while disconnected, never wait long. */
export function createProducerConnection(settings: RedisSettings, purpose: ConnectionPurpose | string = 'producer'): RedisConnection {
  return connect(settings, resolvePurpose(purpose), {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: PRODUCER_COMMAND_TIMEOUT_MS,
    connectTimeout: 2_000,
    retryStrategy: reconnect,
  });
}

/** For BullMQ workers (blocking commands): retry forever, BullMQ handles the waits. */
export function createWorkerConnection(settings: RedisSettings, purpose: ConnectionPurpose | string = 'worker'): RedisConnection {
  return connect(settings, resolvePurpose(purpose), {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    connectTimeout: 5_000,
    retryStrategy: reconnect,
  });
}

/** How long closeConnection waits for QUIT's answer before it cuts the connection. */
export const QUIT_TIMEOUT_MS = 2_000;

/**
 * Closes a connection politely (QUIT: replies in flight still arrive), or cuts it when Redis does
 * not answer QUIT within `timeoutMs` (a worker connection would otherwise wait for Redis forever).
 * Never throws.
 */
export async function closeConnection(connection: RedisConnection, timeoutMs = QUIT_TIMEOUT_MS): Promise<void> {
  try {
    await withTimeout(connection.quit(), timeoutMs, () => new Error(`Redis did not answer QUIT within ${timeoutMs} ms`));
  } catch {
    connection.disconnect();
  }
}

/**
 * Every connection gets an error listener at birth: without one ioredis prints each failed
 * reconnect as "Unhandled error event" on stderr, outside the JSON logs. Whoever cares reports
 * the trouble with a listener of its own (the outage log, /readyz, the caller's error).
 */
function withErrorListener<T extends RedisConnection>(connection: T): T {
  connection.on('error', () => {});
  return connection;
}

function resolvePurpose(purpose: ConnectionPurpose | string): ConnectionPurpose {
  return typeof purpose === 'string' ? { name: purpose } : purpose;
}

function connect(settings: RedisSettings, purpose: ConnectionPurpose, kind: RedisOptions): RedisConnection {
  const { topology, tls } = settings;
  const options: RedisOptions = {
    connectionName: `zego-relay:${purpose.name}`,
    ...(settings.username ? { username: settings.username } : {}),
    ...(settings.password ? { password: settings.password } : {}),
    ...(tls ? { tls: { ...tls } } : {}),
    ...kind,
    ...purpose.overrides,
  };
  let connection: RedisConnection;
  if (topology.kind === 'cluster') {
    const clusterOptions: ClusterOptions = {
      redisOptions: options,
      // The cluster-wide offline queue follows the kind: a producer fails at once while no node
      // is known, a worker waits. (ioredis keeps each node's own queue on regardless.)
      enableOfflineQueue: options.enableOfflineQueue ?? true,
      enableReadyCheck: true,
      lazyConnect: options.lazyConnect ?? false,
      clusterRetryStrategy: (times) => (options.retryStrategy ? options.retryStrategy(times) : options.retryStrategy === null ? null : reconnect(times)),
      // Nodes announce IP addresses; keep the name the operator wrote, so TLS checks it.
      ...(tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
      // A node that died is replaced by its replica within seconds: re-read the slots soon.
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 200,
      slotsRefreshTimeout: 1_000,
    };
    connection = new Cluster(topology.nodes.map((node) => ({ host: node.host, port: node.port })), clusterOptions);
  } else if (topology.kind === 'sentinel') {
    connection = new Redis({
      ...options,
      sentinels: topology.sentinels.map((node) => ({ host: node.host, port: node.port })),
      name: topology.name,
      ...(topology.sentinelPassword ? { sentinelPassword: topology.sentinelPassword } : {}),
      ...(tls ? { sentinelTLS: { ...tls }, enableTLSForSentinelMode: true } : {}),
      // Subscribe to the Sentinels' switch-master: follow a failover at once, not on the next error.
      failoverDetector: true,
    });
  } else {
    connection = new Redis({ ...options, host: topology.node.host, port: topology.node.port, db: topology.db });
  }
  purpose.outage?.track(connection);
  return withErrorListener(connection);
}

/** A connection to one Sentinel of `settings` (its password and TLS), for reading what it knows. */
export function createSentinelConnection(settings: RedisSettings, index: number, overrides: Partial<RedisOptions> = {}): Redis {
  const { topology, tls } = settings;
  if (topology.kind !== 'sentinel') throw new Error('not a Sentinel configuration');
  const node = topology.sentinels[index];
  if (!node) throw new Error(`no Sentinel number ${index}`);
  return withErrorListener(new Redis({
    host: node.host,
    port: node.port,
    connectionName: 'zego-relay:sentinel-probe',
    ...(topology.sentinelPassword ? { password: topology.sentinelPassword } : {}),
    ...(tls ? { tls: { ...tls } } : {}),
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: PRODUCER_COMMAND_TIMEOUT_MS,
    connectTimeout: 2_000,
    ...overrides,
  }));
}
