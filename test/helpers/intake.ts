/** Reading what the receiver wrote to the intake log, for tests that check what was stored. */
import type { Redis } from 'ioredis';
import type { RelayConfig } from '../../src/config/load.js';
import { intakeKeys, type DeliveryJobData } from '../../src/shared/names.js';
import { parseEntry, type RawEntry } from '../../workers/route/intake-entry.js';

/** Every callback in the intake log (every shard), in stream order per shard. */
export async function intakeCallbacks(redis: Redis, config: Pick<RelayConfig, 'redis' | 'intake'>): Promise<DeliveryJobData[]> {
  const callbacks: DeliveryJobData[] = [];
  for (let shard = 0; shard < config.intake.shards; shard++) {
    const entries = (await redis.xrange(intakeKeys(config.redis.prefix, shard).stream, '-', '+')) as RawEntry[];
    for (const entry of entries) {
      const { data } = parseEntry(entry);
      if (data) callbacks.push(data);
    }
  }
  return callbacks;
}
