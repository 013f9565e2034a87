/**
 * Loads the configuration once: YAML file, `${VAR}` substitution, environment overrides
 * (REDIS_URL, PORT), validation, defaults merged into each target, then deep-frozen.
 * Nothing else in the code reads the YAML or `process.env` for configuration.
 */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { UNROUTED_QUEUE } from '../store/names.js';
import { substituteTree, type Environment } from './env-substitution.js';
import { BREAKER_DEFAULTS, configSchema, type ParsedConfig } from './schema.js';
import { formatDuration } from './units.js';
import { describeYamlError } from './yaml-errors.js';

export const DEFAULT_CONFIG_PATH = 'config/relay.yaml';

/** The secret config/relay.yaml falls back to: accepted only with `mode: development`. */
export const DEVELOPMENT_SECRET = 'zego-relay-dev-secret';

export interface RetryPolicy {
  /** Delay before retry 1, 2, ... in ms. */
  readonly schedule: readonly number[];
  readonly jitter: number;
}

export interface RateLimit {
  readonly max: number;
  readonly duration: number;
}

/** When a target's circuit breaker opens and how it is probed (all durations in ms). */
export interface BreakerPolicy {
  readonly openAfter: number;
  readonly minFailures: number;
  readonly probeInterval: number;
}

/** A target with every default applied. */
export interface Target {
  readonly name: string;
  readonly url: string;
  readonly events: readonly string[];
  readonly appIds?: readonly string[];
  readonly headers: Readonly<Record<string, string>>;
  readonly signingSecrets: readonly string[];
  readonly timeout: number;
  readonly concurrency: number;
  readonly rateLimit?: RateLimit;
  readonly retry: RetryPolicy;
  /** The circuit breaker, or false when it is off for this target. */
  readonly breaker: BreakerPolicy | false;
}

type Parsed = ParsedConfig;

export interface RelayConfig {
  readonly mode: Parsed['mode'];
  readonly server: Readonly<Parsed['server']>;
  readonly admin: Readonly<Parsed['admin']>;
  readonly redis: Readonly<Parsed['redis']>;
  readonly zego: {
    readonly apps: readonly { readonly appId: string; readonly callbackSecrets: readonly string[] }[];
    readonly timestampToleranceSeconds: number;
    readonly allowUnknownEvents: boolean;
    readonly dedupeWindow: number;
  };
  readonly intake: Readonly<Parsed['intake']>;
  readonly delivery: Readonly<Parsed['delivery']>;
  readonly retention: Readonly<Parsed['retention']>;
  readonly targets: readonly Target[];
  /** Where the configuration came from, for logs. */
  readonly source: string;
}

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
    throw new ConfigError(document.errors.map((error) => describeYamlError(error, text)), source);
  }
  const raw = substituteTree(document.toJS() ?? {}, env);
  applyEnvironmentOverrides(raw, env);
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues), source);
  const problems = crossCheck(result.data);
  if (problems.length > 0) throw new ConfigError(problems, source);
  return deepFreeze(resolve(result.data, source));
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

function crossCheck(config: Parsed): string[] {
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

function resolve(config: Parsed, source: string): RelayConfig {
  const { defaults } = config;
  const targets: Target[] = config.targets.map((target) => ({
    name: target.name,
    url: target.url,
    events: target.events,
    ...(target.appIds ? { appIds: target.appIds } : {}),
    headers: target.headers,
    signingSecrets: target.signingSecret,
    timeout: target.timeout ?? defaults.timeout,
    concurrency: target.concurrency ?? defaults.concurrency,
    ...((target.rateLimit ?? defaults.rateLimit) ? { rateLimit: target.rateLimit ?? defaults.rateLimit } : {}),
    retry: {
      schedule: target.retry?.schedule ?? defaults.retry.schedule,
      jitter: target.retry?.jitter ?? defaults.retry.jitter,
    },
    breaker: resolveBreaker(defaults.breaker, target.breaker),
  }));
  return {
    mode: config.mode,
    server: config.server,
    admin: config.admin,
    redis: config.redis,
    zego: config.zego,
    intake: config.intake,
    delivery: config.delivery,
    retention: config.retention,
    targets,
    source,
  };
}

/**
 * A target's breaker: off when the target says false; else its keys over `defaults.breaker`'s (a
 * target may turn on with `breaker: {}` what `defaults.breaker: false` turned off).
 */
function resolveBreaker(defaults: Parsed['defaults']['breaker'], own: Parsed['targets'][number]['breaker']): BreakerPolicy | false {
  if (own === false) return false;
  if (own === undefined) return defaults === false ? false : { ...defaults };
  const base = defaults === false ? BREAKER_DEFAULTS : defaults;
  return {
    openAfter: own.openAfter ?? base.openAfter,
    minFailures: own.minFailures ?? base.minFailures,
    probeInterval: own.probeInterval ?? base.probeInterval,
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
