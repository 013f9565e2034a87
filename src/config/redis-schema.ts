/**
 * The `redis:` section of the configuration: which Redis topology the relay talks to (exactly one
 * of `url`, `cluster`, `sentinel`), TLS for it, how many replicas must hold a write before the
 * receiver answers 200, and the key prefix. Cross-field rules live in redis-topology.ts.
 */
import { z } from 'zod';
import { integer } from './primitives.js';

/** `redis://` or `rediss://`, optionally with `user:password@`, a host and a port. */
export const redisUrl = z.string().regex(/^rediss?:\/\/[^\s]+$/, 'must be a redis:// or rediss:// URL');

/** An empty string (an unset `${VAR}`) means "not set". */
const optionalText = z
  .string()
  .optional()
  .transform((value) => (value ? value : undefined));

const filePath = z.string().min(1, 'must be a file path');

export const redisSchema = z
  .strictObject({
    /**
     * One Redis (`redis://` or `rediss://`, `user:password@` allowed, `/N` picks a database).
     * Overridden by REDIS_URL. @defaultValue `redis://127.0.0.1:6379` without `redis.cluster` or `redis.sentinel`
     */
    url: redisUrl.optional(),
    /** A Redis Cluster, instead of `url`. */
    cluster: z
      .strictObject({
        /**
         * Seed nodes of a Redis Cluster; the relay discovers the others. All `redis://` or all
         * `rediss://`; credentials (`user:password@`) are those of the cluster's nodes.
         */
        nodes: z.array(redisUrl).min(1, 'name at least one node'),
      })
      .optional(),
    /** A primary and its replicas, watched by Redis Sentinels, instead of `url`. */
    sentinel: z
      .strictObject({
        /** The Sentinel master name (`sentinel monitor NAME ...`). */
        name: z.string().min(1, 'must name the master the Sentinels monitor'),
        /**
         * The Sentinels. Credentials in these URLs (`user:password@`) are those of the primary and
         * its replicas; `rediss://` turns TLS on for the Sentinels and the data nodes alike.
         */
        nodes: z.array(redisUrl).min(1, 'name at least one Sentinel'),
        /** The Sentinels' own password (`requirepass` of the Sentinels), if they have one. */
        password: optionalText,
      })
      .optional(),
    /**
     * TLS settings for every connection (needs `rediss://`). Files are read once at start-up;
     * without `ca` the system's certificate authorities are trusted.
     */
    tls: z
      .strictObject({
        /** PEM file of the certificate authority that signed the Redis servers' certificates. */
        ca: filePath.optional(),
        /** PEM file of the relay's client certificate (mutual TLS); needs `key`. */
        cert: filePath.optional(),
        /** PEM file of the client certificate's private key; needs `cert`. */
        key: filePath.optional(),
        /** The name the servers' certificates must carry, when it differs from the host dialled. */
        servername: z.string().min(1).optional(),
      })
      .optional(),
    /**
     * The receiver answers 200 only once this many replicas hold the callback (Redis WAIT), else
     * 503 (ZEGO retries). 0: answer when the primary has it. 1 survives losing the primary.
     * @defaultValue 0
     */
    waitReplicas: integer(0, 100).default(0),
    /** Key prefix of every queue and marker. @defaultValue zego-relay */
    prefix: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'must match [A-Za-z0-9_.-]+').default('zego-relay'),
  })
  .prefault({});

export type ParsedRedis = z.output<typeof redisSchema>;
