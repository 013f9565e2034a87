/**
 * Loads the configuration once: YAML file, `${VAR}` substitution, environment overrides
 * (REDIS_URL, PORT, RELAY_MODE), validation, defaults merged into each target, Redis TLS files read,
 * the OTEL_* tracing settings read (tracing.ts), then deep-frozen.
 * Nothing else in the code reads the YAML or `process.env` for configuration.
 */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { UNROUTED_QUEUE } from '../shared/names.js';
import { substituteTree, type Environment } from './env-substitution.js';
import { resolveRedis, type RedisSettings } from './redis-topology.js';
import { configSchema, type ParsedConfig } from './schema.js';
import { readTracingSettings, type TracingSettings } from './tracing.js';
import { formatDuration } from './units.js';
import { describeYamlError, findSecrets } from './yaml-errors.js';

export const DEFAULT_CONFIG_PATH = 'config/relay.yaml';

/** The secret config/relay.yaml falls back to: accepted only with `mode: development`. */
export const DEVELOPMENT_SECRET = 'zego-relay-dev-secret';

/** Read-only all the way down: the loaded config is deep-frozen. */
type DeepReadonly<T> = T extends (infer Item)[]
  ? readonly DeepReadonly<Item>[]
  : T extends object
    ? { readonly [Key in keyof T]: DeepReadonly<T[Key]> }
    : T;

/**
 * The configuration as the relay runs with it, derived from the schema (schema.ts); `redis` is
 * resolved further (redis-topology.ts: parsed addresses, TLS files read) for the connection factory.
 */
export type RelayConfig = DeepReadonly<Omit<ParsedConfig, 'redis'>> & {
  readonly redis: RedisSettings;
  /** Where the configuration came from, for logs. */
  readonly source: string;
  /** Set when the OTEL_* variables turn tracing on (tracing.ts); undefined: off. */
  readonly tracing?: TracingSettings;
};

/** A target with every default applied. */
export type Target = RelayConfig['targets'][number];
export type RetryPolicy = Target['retry'];
export type RateLimit = NonNullable<Target['rateLimit']>;
/** When a target's circuit breaker opens and how it is probed (all durations in ms). */
export type BreakerPolicy = Exclude<Target['breaker'], false>;
/** Which body fields name a delivery's key on an ordered target. */
export type OrderingPolicy = NonNullable<Target['ordering']>;

export interface LoadOptions {
  /** Path of the YAML file; else RELAY_CONFIG; else config/relay.yaml. */
  path?: string;
  env?: Environment;
}

/** The file path a command should read: the flag, then RELAY_CONFIG, then the default. */
export function resolveConfigPath(flag: string | undefined, env: Environment = process.env): string {
  return flag ?? env.RELAY_CONFIG ?? DEFAULT_CONFIG_PATH;
}

export function loadConfig(options: LoadOptions = {}): RelayConfig {
  const env = options.env ?? process.env;
  const path = resolveConfigPath(options.path, env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError([`cannot read the file (${(error as NodeJS.ErrnoException).code ?? String(error)})`], path);
  }
  return parseConfig(text, { env, source: path });
}

/** Parses YAML text into a validated configuration (used by loadConfig and tests). */
export function parseConfig(text: string, options: { env?: Environment; source?: string } = {}): RelayConfig {
  const env = options.env ?? process.env;
  const source = options.source ?? '<inline>';
  const document = parseDocument(text, { prettyErrors: true });
  if (document.errors.length > 0) {
    const secrets = findSecrets(document);
    throw new ConfigError(document.errors.map((error) => describeYamlError(error, text, secrets)), source);
  }
  const raw = substituteTree(document.toJS() ?? {}, env);
  applyEnvironmentOverrides(raw, env);
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues), source);
  const problems = crossCheck(result.data);
  const redis = resolveRedis(result.data.redis, Boolean(env.REDIS_URL));
  problems.push(...redis.problems);
  const tracing = readTracingSettings(env);
  problems.push(...tracing.problems);
  if (problems.length > 0 || !redis.settings) throw new ConfigError(problems, source);
  return deepFreeze({ ...result.data, redis: redis.settings, source, ...(tracing.settings ? { tracing: tracing.settings } : {}) });
}

function applyEnvironmentOverrides(raw: unknown, env: Environment): void {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return;
  const tree = raw as Record<string, unknown>;
  const section = (name: string): Record<string, unknown> => {
    const current = tree[name];
    if (current !== null && typeof current === 'object' && !Array.isArray(current)) return current as Record<string, unknown>;
    const created: Record<string, unknown> = {};
    tree[name] = created;
    return created;
  };
  if (env.REDIS_URL) section('redis').url = env.REDIS_URL;
  if (env.PORT) section('server').port = env.PORT;
  // The image and docker-compose set RELAY_MODE=production, whatever config file is mounted.
  if (env.RELAY_MODE) tree.mode = env.RELAY_MODE;
}

function formatIssues(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): string[] {
  return issues.flatMap((issue) => {
    const fullPath = [...prefix, ...issue.path];
    const path = formatPath(fullPath);
    if (issue.code === 'unrecognized_keys') {
      return [issue.keys.map((key) => `${path ? `${path}.` : ''}${key}: unknown key`).join('; ')];
    }
    if (issue.code === 'invalid_union') {
      // `false` or an object (breaker): name what is wrong inside the object, not "Invalid input".
      const inside = issue.errors.filter((branch) => !branch.every((inner) => inner.path.length === 0 && (inner.code === 'invalid_type' || inner.code === 'invalid_value')));
      if (inside.length === 1) return formatIssues(inside[0]!, fullPath);
    }
    return [`${path || '(root)'}: ${issue.message}`];
  });
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((text, part) => {
    if (typeof part === 'number') return `${text}[${part}]`;
    return text ? `${text}.${String(part)}` : String(part);
  }, '');
}

function crossCheck(config: ParsedConfig): string[] {
  const problems: string[] = [];
  const seenTargets = new Set<string>();
  config.targets.forEach((target, index) => {
    if (seenTargets.has(target.name)) problems.push(`targets[${index}].name: "${target.name}" is used twice`);
    if (target.name === UNROUTED_QUEUE) {
      problems.push(`targets[${index}].name: "${UNROUTED_QUEUE}" is reserved for callbacks that match no target`);
    }
    seenTargets.add(target.name);
  });
  // A captured callback stays valid for the tolerance on either side of its timestamp; the dedupe
  // window must outlast that, or the same callback re-sent late is new again.
  const { dedupeWindow, timestampToleranceSeconds } = config.zego;
  if (dedupeWindow < 2 * timestampToleranceSeconds * 1000) {
    problems.push(
      `zego.dedupeWindow: ${formatDuration(dedupeWindow)} is shorter than 2 x zego.timestampToleranceSeconds ` +
        `(2 x ${timestampToleranceSeconds} s = ${formatDuration(2 * timestampToleranceSeconds * 1000)}): a captured callback re-sent within the tolerance would be stored again`,
    );
  }
  const seenApps = new Set<string>();
  config.zego.apps.forEach((app, index) => {
    if (seenApps.has(app.appId)) problems.push(`zego.apps[${index}].appId: "${app.appId}" is configured twice`);
    seenApps.add(app.appId);
    app.callbackSecrets.forEach((secret, secretIndex) => {
      if (secret === DEVELOPMENT_SECRET && config.mode !== 'development') {
        problems.push(
          `zego.apps[${index}].callbackSecrets[${secretIndex}]: the development secret is refused outside mode: development (set ZEGO_CALLBACK_SECRET)`,
        );
      }
    });
  });
  return problems;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
