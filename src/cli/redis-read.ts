/**
 * What the listing commands (`rejected`, `poisoned`, `deliveries`) share: load the config, read from its Redis
 * within a deadline, and on failure say why on stderr.
 */
import type { RelayConfig } from '../config/load.js';
import { describeRedis } from '../config/redis-topology.js';
import { pingWithin } from '../redis/ready.js';
import { createProducerConnection, type RedisConnection } from '../redis/connection.js';
import { loadCommandConfig, say, type CommandIo } from './command.js';

/** How long a command waits for Redis to answer. */
const CONNECT_TIMEOUT_MS = 5_000;

/** `read`'s result, or undefined once the reason it failed (invalid config, Redis unreachable) is printed. */
export async function readFromRedis<T>(
  command: string,
  configFlag: string | undefined,
  io: CommandIo,
  read: (redis: RedisConnection, config: RelayConfig) => Promise<T>,
  /** What makes the command refuse this config before it reads (e.g. an unknown target), in words. */
  refuse: (config: RelayConfig) => string | undefined = () => undefined,
): Promise<T | undefined> {
  const config = loadCommandConfig(command, configFlag, io);
  if (!config) return undefined;
  const refusal = refuse(config);
  if (refusal !== undefined) {
    say(io.stderr, `zego-relay ${command}: ${refusal}`);
    return undefined;
  }
  const connection = createProducerConnection(config.redis, `${command}-cli`);
  try {
    if (await pingWithin(connection, CONNECT_TIMEOUT_MS)) {
      const result = await read(connection, config).then((value) => ({ value }), () => undefined);
      if (result) return result.value;
    }
    say(io.stderr, `zego-relay ${command}: Redis (${describeRedis(config.redis)}) did not answer; check that it runs (REDIS_URL, redis.url)`);
    return undefined;
  } finally {
    connection.disconnect();
  }
}
