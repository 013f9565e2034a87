/** What the intake log holds now, for metrics, /readyz and check-config. */
import type { RelayConfig } from '../config/load.js';
import { intakeKeys } from '../shared/names.js';
import { readyWithin } from '../redis/ready.js';
import type { RedisConnection } from '../redis/connection.js';

/**
 * Callbacks acknowledged to ZEGO and not yet routed, over every shard: the streams' length, since a
 * router deletes each entry once its jobs are queued.
 */
export async function intakePendingCount(redis: RedisConnection, config: RelayConfig, readyTimeoutMs = 1_000): Promise<number> {
  // A fail-fast connection refuses commands until it is ready; right after start-up it is not down.
  await readyWithin(redis, readyTimeoutMs);
  const lengths = await Promise.all(
    Array.from({ length: config.intake.shards }, (_unused, shard) => redis.xlen(intakeKeys(config.redis.prefix, shard).stream)),
  );
  return lengths.reduce((sum, length) => sum + length, 0);
}
