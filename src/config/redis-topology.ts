/**
 * Turns the validated `redis:` section into the settings every Redis connection is built from
 * (src/redis/connection.ts): the topology with parsed host/port pairs, the data nodes' credentials, and the
 * TLS files' contents, read here once at start-up. Returns problems instead of throwing, each naming
 * the config path at fault, so loadConfig reports them with the rest.
 */
import { readFileSync } from 'node:fs';
import type { ParsedRedis } from './redis-schema.js';

export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

export type RedisTopology =
  | { readonly kind: 'single'; readonly node: RedisNode; readonly db: number }
  | { readonly kind: 'cluster'; readonly nodes: readonly RedisNode[] }
  | {
      readonly kind: 'sentinel';
      readonly name: string;
      readonly sentinels: readonly RedisNode[];
      /** The Sentinels' own password. */
      readonly sentinelPassword?: string;
    };

/** TLS material, read from the configured files at start-up. Present means TLS is on. */
export interface RedisTls {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly servername?: string;
}

export interface RedisSettings {
  /** As configured (one Redis), for messages; undefined with cluster or sentinel. */
  readonly url?: string;
  readonly cluster?: { readonly nodes: readonly string[] };
  readonly sentinel?: { readonly name: string; readonly nodes: readonly string[]; readonly password?: string };
  readonly topology: RedisTopology;
  /** Credentials of the data nodes (from `user:password@` in the URLs). */
  readonly username?: string;
  readonly password?: string;
  readonly tls?: RedisTls;
  readonly waitReplicas: number;
  readonly prefix: string;
}

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

const SENTINEL_PORT = 26379;
const REDIS_PORT = 6379;

interface ParsedUrl {
  readonly node: RedisNode;
  readonly tls: boolean;
  readonly username?: string;
  readonly password?: string;
  readonly db: number;
}

/**
 * @param urlFromEnv - true when REDIS_URL replaced `redis.url`: an error then says so, since the
 *   operator may not see a `url` in the file.
 */
export function resolveRedis(parsed: ParsedRedis, urlFromEnv: boolean): { settings?: RedisSettings; problems: string[] } {
  const problems: string[] = [];
  const chosen = (['url', 'cluster', 'sentinel'] as const).filter((key) => parsed[key] !== undefined);
  if (chosen.length > 1) {
    problems.push(
      urlFromEnv
        ? `redis: REDIS_URL is set, which names one Redis (it replaces redis.url), but redis.${chosen.find((key) => key !== 'url')} is configured too: unset REDIS_URL, or remove redis.${chosen.find((key) => key !== 'url')}`
        : `redis: set exactly one of url, cluster, sentinel (found ${chosen.join(' and ')})`,
    );
    return { problems };
  }

  let topology: RedisTopology;
  let urls: { path: string; parsed: ParsedUrl | undefined }[];
  if (parsed.cluster) {
    urls = parsed.cluster.nodes.map((url, index) => ({ path: `redis.cluster.nodes[${index}]`, parsed: parseRedisUrl(url, REDIS_PORT) }));
    topology = { kind: 'cluster', nodes: urls.flatMap(({ parsed: url }) => (url ? [url.node] : [])) };
    urls.forEach(({ path, parsed: url }) => {
      if (url && url.db !== 0) problems.push(`${path}: a Redis Cluster has only database 0; remove the /${url.db}`);
    });
  } else if (parsed.sentinel) {
    urls = parsed.sentinel.nodes.map((url, index) => ({ path: `redis.sentinel.nodes[${index}]`, parsed: parseRedisUrl(url, SENTINEL_PORT) }));
    topology = {
      kind: 'sentinel',
      name: parsed.sentinel.name,
      sentinels: urls.flatMap(({ parsed: url }) => (url ? [url.node] : [])),
      ...(parsed.sentinel.password ? { sentinelPassword: parsed.sentinel.password } : {}),
    };
  } else {
    const url = parseRedisUrl(parsed.url ?? DEFAULT_REDIS_URL, REDIS_PORT);
    urls = [{ path: 'redis.url', parsed: url }];
    topology = { kind: 'single', node: url?.node ?? { host: '', port: 0 }, db: url?.db ?? 0 };
  }
  for (const { path, parsed: url } of urls) if (!url) problems.push(`${path}: must be redis://[user:password@]host[:port]`);
  const valid = urls.flatMap(({ path, parsed: url }) => (url ? [{ path, url }] : []));
  const first = valid[0];
  for (const { path, url } of valid.slice(1)) {
    if (first && url.tls !== first.url.tls) problems.push(`${path}: mixes redis:// and rediss:// with ${first.path}; use one scheme for all nodes`);
    if (first && (url.username !== first.url.username || url.password !== first.url.password)) {
      problems.push(`${path}: its user:password differs from ${first.path}'s; every node shares one set of credentials`);
    }
  }

  const tlsOn = first?.url.tls ?? false;
  const tls = readTls(parsed.tls, tlsOn, urls[0]?.path ?? 'redis.url', problems);
  if (problems.length > 0) return { problems };
  return {
    problems,
    settings: {
      ...(parsed.url !== undefined || topology.kind === 'single' ? { url: parsed.url ?? DEFAULT_REDIS_URL } : {}),
      ...(parsed.cluster ? { cluster: parsed.cluster } : {}),
      ...(parsed.sentinel ? { sentinel: parsed.sentinel } : {}),
      topology,
      ...(first?.url.username ? { username: first.url.username } : {}),
      ...(first?.url.password ? { password: first.url.password } : {}),
      ...(tls ? { tls } : {}),
      waitReplicas: parsed.waitReplicas,
      prefix: parsed.prefix,
    },
  };
}

function parseRedisUrl(text: string, defaultPort: number): ParsedUrl | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (!url.hostname || (url.pathname !== '' && url.pathname !== '/' && !/^\/\d{1,2}$/.test(url.pathname))) return undefined;
  return {
    node: { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port ? Number(url.port) : defaultPort },
    tls: url.protocol === 'rediss:',
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    db: url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0,
  };
}

/** Reads the TLS files once. TLS is on with rediss:// (system CAs when `redis.tls` is absent). */
function readTls(tls: ParsedRedis['tls'], tlsOn: boolean, urlPath: string, problems: string[]): RedisTls | undefined {
  if (tls && !tlsOn) {
    problems.push(`redis.tls is set but ${urlPath} uses redis://: use rediss:// to connect with TLS`);
    return undefined;
  }
  if (!tlsOn) return undefined;
  if (!tls) return {};
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    problems.push(`redis.tls: cert and key go together (set both for a client certificate, or neither)`);
  }
  const read = (name: 'ca' | 'cert' | 'key'): string | undefined => {
    const path = tls[name];
    if (path === undefined) return undefined;
    try {
      return readFileSync(path, 'utf8');
    } catch (error) {
      problems.push(`redis.tls.${name}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
      return undefined;
    }
  };
  const ca = read('ca');
  const cert = read('cert');
  const key = read('key');
  return {
    ...(ca !== undefined ? { ca } : {}),
    ...(cert !== undefined ? { cert } : {}),
    ...(key !== undefined ? { key } : {}),
    ...(tls.servername ? { servername: tls.servername } : {}),
  };
}

/** The Redis a config names, for people: never credentials. */
export function describeRedis(settings: RedisSettings): string {
  const scheme = settings.tls ? 'rediss' : 'redis';
  const address = (node: RedisNode) => `${node.host.includes(':') ? `[${node.host}]` : node.host}:${node.port}`;
  const { topology } = settings;
  if (topology.kind === 'cluster') return `Redis Cluster, seed nodes ${topology.nodes.map((node) => `${scheme}://${address(node)}`).join(', ')}`;
  if (topology.kind === 'sentinel') return `Sentinel master "${topology.name}" via ${topology.sentinels.map((node) => `${scheme}://${address(node)}`).join(', ')}`;
  return `${scheme}://${address(topology.node)}${topology.db ? `/${topology.db}` : ''}`;
}

/** Settings for one Redis at `url` with every other key at its default (tools and tests). */
export function redisSettingsForUrl(url: string, prefix = 'zego-relay'): RedisSettings {
  const { settings, problems } = resolveRedis({ url, waitReplicas: 0, prefix }, false);
  if (!settings) throw new Error(problems.join('; '));
  return settings;
}
