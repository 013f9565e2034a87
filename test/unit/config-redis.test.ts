/**
 * The `redis:` section: exactly one of url, cluster, sentinel; REDIS_URL; TLS files; waitReplicas;
 * and the example configs for a cluster and a Sentinel, parsed as they are.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../src/config/load.js';
import { describeRedis, redisSettingsForUrl } from '../../src/config/redis-topology.js';
import { ConfigError } from '../../src/errors.js';

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

describe('redis URLs in detail', () => {
  it.each([
    ['redis://[::1]:7000', { host: '::1', port: 7000 }, 0, 'redis://[::1]:7000'],
    ['redis://h', { host: 'h', port: 6379 }, 0, 'redis://h:6379'],
    ['redis://h:6380/', { host: 'h', port: 6380 }, 0, 'redis://h:6380'],
    ['redis://h/15', { host: 'h', port: 6379 }, 15, 'redis://h:6379/15'],
  ])('%s is %j, database %d, shown as %s', (url, node, db, shown) => {
    const config = parse(`  url: "${url}"\n`);
    expect(config.redis.topology).toEqual({ kind: 'single', node, db });
    expect(describeRedis(config.redis)).toBe(shown);
    expect(config.redis).not.toHaveProperty('username');
    expect(config.redis).not.toHaveProperty('password');
  });

  it.each([['redis://h/db'], ['redis://h/123'], ['redis://h/1/2'], ['redis://:6379']])('%s is not a Redis URL', (url) => {
    expect(issuesOf(`  url: "${url}"\n`)).toEqual(['redis.url: must be redis://[user:password@]host[:port]']);
  });

  it('names each bad node of a cluster or Sentinel by its path', () => {
    expect(issuesOf('  cluster: { nodes: ["redis://a:7000", "redis://b/x"] }\n')).toEqual(['redis.cluster.nodes[1]: must be redis://[user:password@]host[:port]']);
    expect(issuesOf('  sentinel: { name: m, nodes: ["redis://s/x"] }\n')).toEqual(['redis.sentinel.nodes[0]: must be redis://[user:password@]host[:port]']);
  });

  it('accepts nodes that share their scheme and credentials, and shows a Sentinel setup', () => {
    const config = parse('  sentinel: { name: m, nodes: ["rediss://u:p@s1", "rediss://u:p@[::2]:26380"] }\n');
    expect(config.redis).toMatchObject({ username: 'u', password: 'p', tls: {} });
    expect(config.redis.url).toBeUndefined();
    expect(config.redis.sentinel).toEqual({ name: 'm', nodes: ['rediss://u:p@s1', 'rediss://u:p@[::2]:26380'] });
    expect(describeRedis(config.redis)).toBe('Sentinel master "m" via rediss://s1:26379, rediss://[::2]:26380');
    expect(parse('  cluster: { nodes: ["redis://a:7000"] }\n').redis.cluster).toEqual({ nodes: ['redis://a:7000'] });
  });

  it('redisSettingsForUrl: one Redis with every other key at its default, or an error naming the problem', () => {
    expect(redisSettingsForUrl('redis://h:1/2')).toMatchObject({ url: 'redis://h:1/2', topology: { kind: 'single', node: { host: 'h', port: 1 }, db: 2 }, waitReplicas: 0, prefix: 'zego-relay' });
    expect(redisSettingsForUrl('redis://h', 'p').prefix).toBe('p');
    expect(() => redisSettingsForUrl('redis://h/x')).toThrow('redis.url: must be redis://[user:password@]host[:port]');
  });
});

describe('redis TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'zego-relay-tls-'));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is on with rediss://, with the system CAs when redis.tls is absent, and shown as rediss://', () => {
    const config = parse('  url: rediss://h:6380\n');
    expect(config.redis.tls).toEqual({});
    expect(describeRedis(config.redis)).toBe('rediss://h:6380');
  });

  it('reads the CA, the client certificate and key, and the server name once, at load', () => {
    const ca = file('ca.pem', 'CA TEXT');
    const cert = file('cert.pem', 'CERT TEXT');
    const key = file('key.pem', 'KEY TEXT');
    const config = parse(`  url: rediss://h\n  tls: { ca: "${ca}", cert: "${cert}", key: "${key}", servername: redis.internal }\n`);
    expect(config.redis.tls).toEqual({ ca: 'CA TEXT', cert: 'CERT TEXT', key: 'KEY TEXT', servername: 'redis.internal' });
    expect(parse(`  url: rediss://h\n  tls: { ca: "${ca}" }\n`).redis.tls).toEqual({ ca: 'CA TEXT' });
  });

  it('refuses redis.tls with redis://, a certificate without its key, and a file it cannot read', () => {
    const ca = file('ca2.pem', 'CA');
    expect(issuesOf(`  url: redis://h\n  tls: { ca: "${ca}" }\n`)).toEqual(['redis.tls is set but redis.url uses redis://: use rediss:// to connect with TLS']);
    expect(issuesOf(`  cluster: { nodes: ["redis://a:7000"] }\n  tls: { ca: "${ca}" }\n`)).toEqual(['redis.tls is set but redis.cluster.nodes[0] uses redis://: use rediss:// to connect with TLS']);
    expect(issuesOf(`  url: rediss://h\n  tls: { cert: "${ca}" }\n`)).toEqual(['redis.tls: cert and key go together (set both for a client certificate, or neither)']);
    expect(issuesOf(`  url: rediss://h\n  tls: { key: "${ca}" }\n`)).toEqual(['redis.tls: cert and key go together (set both for a client certificate, or neither)']);
    const missing = join(dir, 'missing.pem');
    expect(issuesOf(`  url: rediss://h\n  tls: { ca: "${missing}" }\n`)).toEqual([`redis.tls.ca: cannot read ${missing} (ENOENT)`]);
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
