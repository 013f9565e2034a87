/**
 * `npm start` that just works: in development mode, when nothing answers at `redis.url` and the
 * operator did not name a Redis with REDIS_URL, start a private `redis-server` from PATH on the
 * port of `redis.url`, with its data under ./data/redis, and stop it cleanly (SHUTDOWN, which
 * flushes the AOF) after the relay's workers are done with it.
 *
 * Never in production: there a Redis that does not answer yet is one that starts after the relay
 * (a start-order race), and callbacks acknowledged into a private one would stay stranded in
 * ./data/redis when the real one comes up. Production keeps trying the configured Redis, and
 * spools (or answers 503) meanwhile.
 *
 * Persistence: AOF with `appendfsync everysec`. Every write reaches the kernel at once, so a crash
 * of Redis or of the relay loses nothing; only a power loss or kernel crash of this machine can
 * lose the last second. That is the right trade for a developer's machine; the docker-compose
 * deployment makes its own (stricter) choice. `noeviction` because evicting a queued callback
 * would lose it silently: a full Redis must refuse writes (the receiver then answers 503).
 */
import { accessSync, constants, mkdirSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import type { RelayConfig } from '../config/load.js';
import { describeRedis, type RedisSettings } from '../config/redis-topology.js';
import { closeConnection, createProducerConnection } from '../redis/connection.js';
import type { Environment } from '../config/env-substitution.js';
import type { Logger } from '../lib/logger.js';
import { startRedisServer, type RedisServer } from './redis-process.js';

/** Where the private Redis keeps its AOF, relative to the working directory. */
export const PRIVATE_REDIS_DIR = 'data/redis';

/** No Redis answers, and there is no `redis-server` to start: the relay cannot run. */
export class RedisServerMissingError extends Error {
  constructor(url: string) {
    super(
      `no Redis answers at ${url} and there is no redis-server on PATH to start a private one.\n` +
        '  Install Redis (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis),\n' +
        '  or point the relay at a running Redis: REDIS_URL=redis://HOST:6379 npm start',
    );
    this.name = 'RedisServerMissingError';
  }
}

export interface RedisSupply {
  /** The private server when one was started, else undefined (an external Redis is used). */
  readonly privateServer: RedisServer | undefined;
  /** Shuts the private server down (no-op for an external Redis). */
  stop(): Promise<void>;
}

export interface EnsureRedisOptions {
  readonly logger: Logger;
  readonly env?: Environment;
  /** @defaultValue data/redis */
  readonly dataDir?: string;
}

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/**
 * Makes sure a Redis answers at `config.redis.url`, starting a private one when allowed:
 * `mode: development`, REDIS_URL unset, a plain `redis://` URL on this machine without
 * credentials (never for a cluster or Sentinel, which the operator runs). Any other Redis that
 * does not answer yet is left alone: the relay waits and reconnects, spooling callbacks (or
 * answering 503) meanwhile.
 */
export async function ensureRedis(config: RelayConfig, options: EnsureRedisOptions): Promise<RedisSupply> {
  const env = options.env ?? process.env;
  const external: RedisSupply = { privateServer: undefined, stop: async () => {} };
  const { topology } = config.redis;
  const shownUrl = describeRedis(config.redis);
  if (await redisAnswers(config.redis)) return external;

  const mayStartPrivate =
    config.mode === 'development' &&
    !env.REDIS_URL && topology.kind === 'single' && !config.redis.tls && LOCAL_HOSTS.has(topology.node.host) && !config.redis.password;
  if (!mayStartPrivate) {
    const meanwhile = config.spool ? 'callbacks are spooled to disk meanwhile' : 'callbacks get 503 and readyz is 503 meanwhile';
    options.logger.warn({ redis: shownUrl, mode: config.mode }, `Redis does not answer yet; the relay keeps trying (${meanwhile})`);
    return external;
  }
  if (!onPath('redis-server', env.PATH)) throw new RedisServerMissingError(shownUrl);

  const dir = resolve(options.dataDir ?? PRIVATE_REDIS_DIR);
  mkdirSync(dir, { recursive: true });
  const server = await startRedisServer({ port: topology.node.port, dir, appendfsync: 'everysec', ownProcessGroup: true });
  options.logger.info(
    { redis: shownUrl, dir, appendfsync: 'everysec', maxmemoryPolicy: 'noeviction' },
    'no Redis was answering: started a private redis-server (stopped with the relay; set REDIS_URL to use your own)',
  );
  return {
    privateServer: server,
    stop: async () => {
      await server.shutdown();
      options.logger.info({ redis: shownUrl, dir }, 'private redis-server stopped (AOF flushed)');
    },
  };
}

/** True when the configured Redis answers PING within about a second. */
export async function redisAnswers(settings: RedisSettings, timeoutMs = 1_000): Promise<boolean> {
  const client = createProducerConnection(settings, {
    name: 'probe',
    overrides: { lazyConnect: true, connectTimeout: timeoutMs, commandTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null },
  });
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** True when an executable named `command` is in one of PATH's folders. */
export function onPath(command: string, path: string | undefined): boolean {
  return (path ?? '').split(delimiter).some((folder) => {
    if (!folder) return false;
    try {
      accessSync(join(folder, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
