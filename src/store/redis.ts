/**
 * Redis connections. The receiver's producer connection fails fast (no offline queue, a command
 * timeout) so a Redis outage turns into a quick 503 instead of a hanging request; BullMQ workers get
 * their own blocking connections with unlimited retries, as BullMQ requires.
 */
import { Redis, type RedisOptions } from 'ioredis';

/** How long the receiver waits for Redis before answering 503 (README.md#the-receiver promises 503 within 2 s). */
export const PRODUCER_COMMAND_TIMEOUT_MS = 1_500;

const reconnect = (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2_000);

/**
 * For the receiver and admin reads: never queue commands while disconnected, never wait long.
 * `overrides` adjust one connection (auto-pipelining for the receiver's writes; an offline queue,
 * each command still bounded by the command timeout, for a writer that bounds its own backlog).
 */
export function createProducerConnection(url: string, name = 'producer', overrides: RedisOptions = {}): Redis {
  return new Redis(url, {
    connectionName: `zego-relay:${name}`,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: PRODUCER_COMMAND_TIMEOUT_MS,
    connectTimeout: 2_000,
    retryStrategy: reconnect,
    lazyConnect: false,
    ...overrides,
  } satisfies RedisOptions);
}

/** For BullMQ workers (blocking commands): retry forever, BullMQ handles the waits. */
export function createWorkerConnection(url: string, name = 'worker'): Redis {
  return new Redis(url, {
    connectionName: `zego-relay:${name}`,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    connectTimeout: 5_000,
    retryStrategy: reconnect,
  } satisfies RedisOptions);
}
