/**
 * Start-up check of the Redis settings a durable queue depends on. With an eviction policy Redis
 * may silently drop stored callbacks under memory pressure; without AOF a Redis crash loses every
 * callback acknowledged since the last snapshot. Both break "200 means stored", so say it loudly.
 */
import type { RedisConnection } from './connection.js';
import type { Logger } from '../lib/logger.js';

export interface RedisSettingsReport {
  /** `maxmemory-policy`, or undefined when CONFIG GET was refused (managed Redis often does). */
  maxmemoryPolicy?: string;
  /** `appendonly`, or undefined when CONFIG GET was refused. */
  appendonly?: string;
  /** The warnings logged. */
  warnings: string[];
}

/**
 * Reads `maxmemory-policy` and `appendonly` and logs one warning per unsafe setting. Never throws:
 * a refused CONFIG GET is reported at info level, since the relay works without knowing.
 */
export async function checkRedisSettings(redis: RedisConnection, logger: Logger): Promise<RedisSettingsReport> {
  const maxmemoryPolicy = await configGet(redis, 'maxmemory-policy');
  const appendonly = await configGet(redis, 'appendonly');
  const warnings: string[] = [];
  if (maxmemoryPolicy !== undefined && maxmemoryPolicy !== 'noeviction') {
    warnings.push(
      `Redis maxmemory-policy is "${maxmemoryPolicy}": Redis may evict stored callbacks under memory pressure. Set maxmemory-policy noeviction.`,
    );
  }
  if (appendonly !== undefined && appendonly !== 'yes') {
    warnings.push('Redis AOF is off (appendonly no): callbacks answered 200 are lost if Redis crashes. Set appendonly yes.');
  }
  for (const warning of warnings) logger.warn({ redisCheck: true }, warning);
  if (maxmemoryPolicy === undefined || appendonly === undefined) {
    logger.info('Redis refused CONFIG GET; make sure maxmemory-policy is noeviction and AOF is on');
  }
  return { ...(maxmemoryPolicy !== undefined ? { maxmemoryPolicy } : {}), ...(appendonly !== undefined ? { appendonly } : {}), warnings };
}

async function configGet(redis: RedisConnection, name: string): Promise<string | undefined> {
  try {
    const reply = (await redis.config('GET', name)) as unknown;
    return Array.isArray(reply) && typeof reply[1] === 'string' ? reply[1] : undefined;
  } catch {
    return undefined;
  }
}
