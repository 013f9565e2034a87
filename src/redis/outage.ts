/**
 * One warning when Redis goes away and one info line when it is back, per role (receiver, worker,
 * ...) of a process, however many connections the role holds and however often they retry. ioredis
 * emits an 'error' per failed reconnect, and BullMQ re-emits them from each worker: without this,
 * an outage logged about two lines a second per target.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../lib/logger.js';
import { isCluster } from './connection-kind.js';

/** What the factory (redis.ts) builds; named here too so that the two files do not import each other. */
type RedisConnection = Redis | Cluster;

/** ioredis and network failures that mean "Redis is not reachable", not "a command failed". */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ECONNABORTED']);
const CONNECTION_MESSAGES = /Connection is closed|Stream isn't writeable|Reached the max retries per request|CLUSTERDOWN|Failed to refresh slots cache|sentinels are unreachable|None of the sentinels|LOADING|MASTERDOWN|Command timed out/i;

/** What a log line may say about a Redis error: never its command arguments (AUTH carries the password). */
export function describeRedisError(error: unknown): { message: string; code?: string } {
  if (!(error instanceof Error)) return { message: String(error) };
  const code = (error as NodeJS.ErrnoException).code;
  return { message: error.message, ...(typeof code === 'string' ? { code } : {}) };
}

export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  return (typeof code === 'string' && CONNECTION_CODES.has(code)) || CONNECTION_MESSAGES.test(error.message);
}

export class RedisOutageLog {
  private down = false;
  private readonly connections = new Set<RedisConnection>();

  /**
   * @param role - named in both lines, e.g. `receiver`.
   * @param consequence - what the role does meanwhile, e.g. `callbacks are answered 503 until it is back`.
   */
  constructor(
    private readonly logger: Logger,
    readonly role: string,
    private readonly consequence: string,
  ) {}

  /** Follows a connection's errors and recoveries (the factory calls this). */
  track(connection: RedisConnection): void {
    this.connections.add(connection);
    connection.on('error', (error: unknown) => this.wentAway(error));
    connection.on('ready', () => this.maybeBack());
    connection.on('end', () => {
      this.connections.delete(connection);
      this.maybeBack();
    });
    if (isCluster(connection)) {
      // One node of a cluster may be lost while the cluster as a whole stays ready; its
      // replacement shows up in a slot refresh.
      connection.on('node error', (error: unknown) => this.wentAway(error));
      connection.on('refresh', () => this.maybeBack());
    }
  }

  /**
   * For errors a library re-emits (a BullMQ Worker's or Queue's 'error'): true when the error is
   * part of an outage, which this log reports once; false when the caller should log it itself.
   */
  absorbs(error: unknown): boolean {
    if (!isConnectionError(error) && !this.down) return false;
    this.wentAway(error);
    return true;
  }

  /** True between the warning and the line saying Redis is back. */
  get isDown(): boolean {
    return this.down;
  }

  private wentAway(error: unknown): void {
    if (this.down) return;
    this.down = true;
    this.logger.warn({ role: this.role, err: describeRedisError(error) }, `Redis is unreachable; ${this.consequence}`);
  }

  private maybeBack(): void {
    if (!this.down) return;
    for (const connection of this.connections) if (!isServing(connection)) return;
    this.down = false;
    this.logger.info({ role: this.role }, 'Redis is reachable again');
  }
}

/** Ready, and for a cluster every master it knows of is connected too. */
function isServing(connection: RedisConnection): boolean {
  if (connection.status !== 'ready') return false;
  return !isCluster(connection) || connection.nodes('master').every((node) => node.status === 'ready');
}

/** The worker role's log: every delivery worker and the unrouted archiver of a process share it. */
export function workerOutageLog(logger: Logger): RedisOutageLog {
  return outageLog(logger, 'worker', 'deliveries wait until it is back');
}

const logs = new WeakMap<Logger, Map<string, RedisOutageLog>>();

/**
 * The outage log of `role` for this logger: every connection of the role shares it, so a worker
 * process with twenty targets still logs one line when Redis goes away.
 */
export function outageLog(logger: Logger, role: string, consequence: string): RedisOutageLog {
  const byRole = logs.get(logger) ?? new Map<string, RedisOutageLog>();
  logs.set(logger, byRole);
  const existing = byRole.get(role);
  if (existing) return existing;
  const created = new RedisOutageLog(logger, role, consequence);
  byRole.set(role, created);
  return created;
}
