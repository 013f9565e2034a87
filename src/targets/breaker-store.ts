/**
 * The circuit breaker's shared state: one Redis hash per target, read and changed only by the
 * small Lua scripts below (our own scripts on our own key), so every worker process sees the same
 * state and it survives restarts. Times come from Redis' clock (TIME), so worker hosts whose
 * clocks differ still agree on when the breaker opened and when the next probe is due.
 *
 * The key carries a hash tag per target (`{prefix:deliver-NAME}:breaker`): each script touches
 * one key, so the layout is ready for Redis Cluster.
 */
import { readyWithin } from '../redis/ready.js';
import { PRODUCER_COMMAND_TIMEOUT_MS, type RedisConnection } from '../redis/connection.js';
import { withScripts } from '../redis/scripts.js';
import { once } from 'node:events';
import type { BreakerPolicy } from '../config/load.js';
import { targetTag } from '../shared/names.js';

/**
 * The Redis key of a target's breaker. Braces already in the prefix or the queue name are dropped,
 * so the key carries exactly one hash tag, its own target's.
 */
export function breakerKey(prefix: string, targetName: string): string {
  return `${targetTag(prefix, targetName)}:breaker`;
}

/** Fields: since (first failure of the current streak), failures, openedAt, nextProbeAt, lastError. */
const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * A failed attempt. ARGV: openAfter, minFailures, probeInterval, error text.
 * Returns {state, failures, changed}: state 0 closed, 1 open, 2 opened by this failure; changed 1
 * when the breaker is open and this error differs from the last one recorded.
 */
const RECORD_FAILURE = `${NOW}
local key = KEYS[1]
local failures = redis.call('HINCRBY', key, 'failures', 1)
redis.call('HSETNX', key, 'since', now)
if redis.call('HEXISTS', key, 'openedAt') == 1 then
  local changed = 0
  if redis.call('HGET', key, 'lastError') ~= ARGV[4] then changed = 1 end
  redis.call('HSET', key, 'lastError', ARGV[4])
  return {1, failures, changed}
end
local since = tonumber(redis.call('HGET', key, 'since'))
if failures >= tonumber(ARGV[2]) and now - since >= tonumber(ARGV[1]) then
  redis.call('HSET', key, 'openedAt', now, 'nextProbeAt', now + tonumber(ARGV[3]), 'lastError', ARGV[4])
  return {2, failures, 1}
end
return {0, failures, 0}`;

/** A delivered attempt: the streak ends. Returns how long the breaker had been open in ms, or -1 if it was closed. */
const RECORD_SUCCESS = `${NOW}
local opened = redis.call('HGET', KEYS[1], 'openedAt')
redis.call('DEL', KEYS[1])
if opened then return now - tonumber(opened) end
return -1`;

/**
 * May a delivery be tried now? ARGV: probeInterval. Returns {0} closed (deliver), {1, ms} open
 * (hold for ms), {2} open and this caller is the probe (the next one is due a probeInterval later).
 */
const ADMIT = `${NOW}
local key = KEYS[1]
if redis.call('HEXISTS', key, 'openedAt') == 0 then return {0, 0} end
local due = tonumber(redis.call('HGET', key, 'nextProbeAt') or '0')
if now >= due then
  redis.call('HSET', key, 'nextProbeAt', now + tonumber(ARGV[1]))
  return {2, 0}
end
return {1, due - now}`;

export type FailureVerdict =
  /** The breaker stays closed; the attempt is spent as usual. */
  | { readonly state: 'closed'; readonly failures: number }
  /** This failure opened the breaker. */
  | { readonly state: 'opened'; readonly failures: number }
  /** It was already open; `changed` when the error differs from the last one recorded. */
  | { readonly state: 'open'; readonly failures: number; readonly changed: boolean };

export type Admission = { readonly kind: 'deliver' } | { readonly kind: 'probe' } | { readonly kind: 'hold'; readonly ms: number };

export interface BreakerSnapshot {
  readonly open: boolean;
  /** Failed attempts in the current streak (0 after a delivered one). */
  readonly failures: number;
  /** When it opened (ms since epoch, Redis' clock), while open. */
  readonly openedAt?: number;
}

interface BreakerCommands {
  zegoRelayBreakerFailure(key: string, openAfter: number, minFailures: number, probeInterval: number, error: string): Promise<[number, number, number]>;
  zegoRelayBreakerSuccess(key: string): Promise<number>;
  zegoRelayBreakerAdmit(key: string, probeInterval: number): Promise<[number, number]>;
}

/** Our scripts as commands of the connection (defined once per connection). */
const withCommands = (connection: RedisConnection) =>
  withScripts<BreakerCommands>(connection, { zegoRelayBreakerFailure: RECORD_FAILURE, zegoRelayBreakerSuccess: RECORD_SUCCESS, zegoRelayBreakerAdmit: ADMIT });

/** One target's breaker state in Redis. */
export class BreakerStore {
  private readonly redis: RedisConnection & BreakerCommands;
  readonly key: string;

  constructor(connection: RedisConnection, prefix: string, targetName: string) {
    this.redis = withCommands(connection);
    this.key = breakerKey(prefix, targetName);
  }

  /**
   * Waits a while for a connection that is still connecting (a fail-fast connection would refuse
   * the command outright right after start-up). When it is not ready by then, or reports an error
   * first, the command goes ahead and fails (or waits, on a worker connection) as it would.
   */
  private async connected(): Promise<void> {
    await readyWithin(this.redis, PRODUCER_COMMAND_TIMEOUT_MS).catch(() => {});
  }

  async recordFailure(policy: BreakerPolicy, error: string): Promise<FailureVerdict> {
    await this.connected();
    const [state, failures, changed] = await this.redis.zegoRelayBreakerFailure(this.key, policy.openAfter, policy.minFailures, policy.probeInterval, error);
    if (state === 2) return { state: 'opened', failures };
    if (state === 1) return { state: 'open', failures, changed: changed === 1 };
    return { state: 'closed', failures };
  }

  /** Ends the failure streak (and closes the breaker). Returns how long it had been open, or undefined if it was closed. */
  async recordSuccess(): Promise<number | undefined> {
    await this.connected();
    const openFor = await this.redis.zegoRelayBreakerSuccess(this.key);
    return openFor >= 0 ? openFor : undefined;
  }

  async admit(policy: BreakerPolicy): Promise<Admission> {
    await this.connected();
    const [kind, ms] = await this.redis.zegoRelayBreakerAdmit(this.key, policy.probeInterval);
    if (kind === 2) return { kind: 'probe' };
    if (kind === 1) return { kind: 'hold', ms: Math.max(1, ms) };
    return { kind: 'deliver' };
  }

  /** The state as it is, without changing it (for the worker's cached view, the admin API and metrics). */
  async snapshot(): Promise<BreakerSnapshot> {
    await this.connected();
    const [openedAt, failures] = await this.redis.hmget(this.key, 'openedAt', 'failures');
    return { open: openedAt !== null, failures: Number(failures ?? 0), ...(openedAt !== null ? { openedAt: Number(openedAt) } : {}) };
  }
}
