/**
 * The `redis:` section: exactly one of url, cluster, sentinel; REDIS_URL; TLS files; waitReplicas;
 * and the example configs for a cluster and a Sentinel, parsed as they are.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../src/config/load.js';
import { describeRedis } from '../src/config/redis-topology.js';
import { ConfigError } from '../src/errors.js';

const apps = 'zego:\n  apps: [{ appId: "111111", callbackSecrets: ["s3cret"] }]\n';

function parse(redis: string, env: Record<string, string> = {}) {
  return parseConfig(`${apps}redis:\n${redis}`, { env });
}

function issuesOf(redis: string, env: Record<string, string> = {}): string[] {
  try {
    parse(redis, env);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.issues];
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('redis topology in the config', () => {
  it('defaults to one local Redis, waitReplicas 0, no TLS', () => {
    const config = parseConfig(apps, { env: {} });
    expect(config.redis.topology).toEqual({ kind: 'single', node: { host: '127.0.0.1', port: 6379 }, db: 0 });
    expect(config.redis.waitReplicas).toBe(0);
    expect(config.redis.tls).toBeUndefined();
    expect(config.redis.url).toBe('redis://127.0.0.1:6379');
  });

  it('reads credentials and the database from the URL, and never shows them', () => {
    const config = parse('  url: "redis://relay:p%40ss@10.0.0.1:6380/2"\n  waitReplicas: "1"\n');
    expect(config.redis).toMatchObject({ username: 'relay', password: 'p@ss', waitReplicas: 1, topology: { kind: 'single', node: { host: '10.0.0.1', port: 6380 }, db: 2 } });
    expect(describeRedis(config.redis)).toBe('redis://10.0.0.1:6380/2');
  });

  it('reads a cluster: seed nodes, default port, one set of credentials', () => {
    const config = parse('  cluster:\n    nodes: ["redis://:pw@10.0.0.1:7000", "redis://:pw@10.0.0.2"]\n');
    expect(config.redis.topology).toEqual({ kind: 'cluster', nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 6379 }] });
    expect(config.redis.password).toBe('pw');
    expect(config.redis.url).toBeUndefined();
    expect(describeRedis(config.redis)).toBe('Redis Cluster, seed nodes redis://10.0.0.1:7000, redis://10.0.0.2:6379');
  });

  it('reads a Sentinel setup: master name, Sentinels (port 26379 by default), their password', () => {
    const config = parse('  sentinel:\n    name: mymaster\n    nodes: ["redis://:datapw@10.0.0.5", "redis://:datapw@10.0.0.6:26380"]\n    password: "${SENTINEL_PASSWORD}"\n', { SENTINEL_PASSWORD: 'sentinelpw' });
    expect(config.redis.topology).toEqual({
      kind: 'sentinel', name: 'mymaster', sentinelPassword: 'sentinelpw',
      sentinels: [{ host: '10.0.0.5', port: 26379 }, { host: '10.0.0.6', port: 26380 }],
    });
    expect(config.redis.password).toBe('datapw');
    // An unset ${VAR} means no Sentinel password, not an empty one.
    const open = parse('  sentinel:\n    name: mymaster\n    nodes: ["redis://10.0.0.5"]\n    password: "${SENTINEL_PASSWORD}"\n');
    expect(open.redis.topology).not.toHaveProperty('sentinelPassword');
  });

  it('refuses more than one topology, naming what it found', () => {
    expect(issuesOf('  url: redis://a:6379\n  cluster: { nodes: ["redis://b:7000"] }\n')).toEqual([
      'redis: set exactly one of url, cluster, sentinel (found url and cluster)',
    ]);
  });

  it('says that REDIS_URL (which names one Redis) conflicts with a configured cluster or Sentinel', () => {
    const issues = issuesOf('  sentinel: { name: m, nodes: ["redis://s:26379"] }\n', { REDIS_URL: 'redis://x:6379' });
    expect(issues).toEqual(['redis: REDIS_URL is set, which names one Redis (it replaces redis.url), but redis.sentinel is configured too: unset REDIS_URL, or remove redis.sentinel']);
    expect(parse('  url: redis://a:6379\n', { REDIS_URL: 'redis://x:6380' }).redis.topology).toMatchObject({ node: { host: 'x', port: 6380 } });
  });

  it('names the path of bad nodes, mixed schemes, differing credentials, a cluster database, a bad waitReplicas', () => {
    expect(issuesOf('  cluster: { nodes: ["redis://a:7000", "rediss://b:7000", "redis://u:p@c:7000", "redis://d:7000/1"] }\n')).toEqual([
      'redis.cluster.nodes[3]: a Redis Cluster has only database 0; remove the /1',
      'redis.cluster.nodes[1]: mixes redis:// and rediss:// with redis.cluster.nodes[0]; use one scheme for all nodes',
      "redis.cluster.nodes[2]: its user:password differs from redis.cluster.nodes[0]'s; every node shares one set of credentials",
    ]);
    expect(issuesOf('  cluster: { nodes: [] }\n')).toEqual(['redis.cluster.nodes: name at least one node']);
    expect(issuesOf('  url: http://a\n')).toEqual(['redis.url: must be a redis:// or rediss:// URL']);
    expect(issuesOf('  waitReplicas: -1\n')[0]).toMatch(/^redis.waitReplicas: /);
    expect(issuesOf('  waitReplicas: 1.5\n')[0]).toMatch(/^redis.waitReplicas: /);
    expect(issuesOf('  sentinel: { nodes: ["redis://s"] }\n')[0]).toMatch(/^redis.sentinel.name: /);
    expect(issuesOf('  tls: { ca: x.pem, pem: y }\n')).toEqual(['redis.tls.pem: unknown key']);
  });
});

describe('the example configs of docs/SCALING.md', () => {
  it.each([
    ['config/examples/cluster.yaml', 'cluster'],
    ['config/examples/sentinel.yaml', 'sentinel'],
  ])('%s parses as it is, in production mode, with waitReplicas 1', (path, kind) => {
    const config = loadConfig({ path, env: { ZEGO_CALLBACK_SECRET: 'a-real-secret-from-zego-1234', ADMIN_PASSWORD: 'a-long-admin-password', REDIS_PASSWORD: 'pw', SENTINEL_PASSWORD: 'spw' } });
    expect(config.mode).toBe('production');
    expect(config.redis.topology.kind).toBe(kind);
    expect(config.redis.waitReplicas).toBe(1);
  });
});
