/**
 * Doubtful settings `check-config` (and `start`) warn about: valid configuration that is
 * probably not what the operator meant. Pure functions of the loaded config; never print secrets.
 */
import { DEVELOPMENT_SECRET, type RelayConfig, type Target } from '../config/load.js';
import { formatDuration } from '../config/units.js';
import { COMMON_FIELDS, DOCUMENTED_FIELDS, KNOWN_EVENT_FAMILIES, KNOWN_EVENTS, PER_SEND_FIELDS } from '../shared/events.js';
import { bullBoardAccess, isLoopback } from '../admin/credentials.js';
import { DEMO_SINK_PATH } from '../dev/demo-sink.js';
import { eventMatches, targetMatches } from '../targets/match.js';

/** Secrets shorter than this are too easy to guess. */
export const MIN_SECRET_LENGTH = 16;

const PLACEHOLDER = /changeme|change-me|change_me|placeholder|example|xxx|todo|replace|^secret$|^password$|^test$/i;

/** Why a secret looks like a placeholder, or undefined when it does not. */
export function placeholderReason(secret: string): string | undefined {
  if (secret === DEVELOPMENT_SECRET) return 'is the built-in development secret';
  if (PLACEHOLDER.test(secret)) return 'looks like a placeholder';
  if (secret.length < MIN_SECRET_LENGTH) return `is shorter than ${MIN_SECRET_LENGTH} characters`;
  return undefined;
}

/** Admin passwords shorter than this are too easy to guess over HTTP basic auth. */
export const MIN_ADMIN_PASSWORD_LENGTH = 12;

/** Passwords anyone tries first on a login prompt. */
const WELL_KNOWN_PASSWORDS = new Set([
  'admin', 'administrator', 'password', 'passw0rd', 'password1', 'changeme', 'letmein', 'welcome', 'secret',
  'default', 'guest', 'root', 'toor', 'qwerty', '123456', '12345678', '123456789', '1234567890', 'admin123',
  'zego', 'zego-relay', 'bullboard', 'bull-board',
]);

/** Why the admin password is weak, or undefined when it is not. */
export function adminPasswordReason(password: string, username: string): string | undefined {
  if (PLACEHOLDER.test(password)) return "looks like a placeholder (is it .env.example's value?)";
  const lower = password.toLowerCase();
  if (WELL_KNOWN_PASSWORDS.has(lower) || lower === username.toLowerCase()) return 'is a well-known password';
  if (password.length < MIN_ADMIN_PASSWORD_LENGTH) return `is shorter than ${MIN_ADMIN_PASSWORD_LENGTH} characters`;
  return undefined;
}

/** A header value's credential without its scheme: `Bearer abc` -> `abc`. */
const credentialOf = (value: string) => value.trim().replace(/^(bearer|basic|token|apikey)(\s+|$)/i, '');

/** Every doubtful setting, one sentence each, naming the config path. */
export function configWarnings(config: RelayConfig): string[] {
  const warnings: string[] = [];
  const appIds = config.zego.apps.map((app) => app.appId);

  config.zego.apps.forEach((app, index) => {
    app.callbackSecrets.forEach((secret, secretIndex) => {
      const reason = placeholderReason(secret);
      if (reason) warnings.push(`zego.apps[${index}].callbackSecrets[${secretIndex}] ${reason}: use the callback secret ZEGO gave you (ZEGO_CALLBACK_SECRET)`);
    });
  });

  warnings.push(...sharedSecretWarnings(config));

  if (bullBoardAccess(config) === 'off') warnings.push('admin.password is not set: Bull Board is off (404); set ADMIN_PASSWORD to turn it on');
  const adminReason = config.admin.password && adminPasswordReason(config.admin.password, config.admin.username);
  if (adminReason) warnings.push(`admin.password ${adminReason}: use a long random one (ADMIN_PASSWORD, e.g. openssl rand -base64 24)`);
  if (!isLoopback(config.admin.host)) {
    warnings.push(`admin.host is ${config.admin.host}: metrics and Bull Board are reachable from the network; keep that network private`);
  }
  if (config.admin.port === config.server.port && config.admin.port !== 0) {
    warnings.push(`admin.port and server.port are both ${config.server.port}: the second listener cannot start`);
  }
  const { claimAfter, firstAttemptDeadline } = config.intake;
  if (config.targets.some((target) => target.directFirstAttempt) && claimAfter < 2 * firstAttemptDeadline) {
    // A batch legitimately waits up to the deadline for its first attempts: a router claiming it
    // sooner attempts the same deliveries again while the first router still works on them.
    warnings.push(
      `intake.claimAfter (${formatDuration(claimAfter)}) is shorter than twice intake.firstAttemptDeadline (${formatDuration(firstAttemptDeadline)}): ` +
        'a router would take over batches another router is still making first attempts for, and deliver them twice',
    );
  }
  if (config.targets.length === 0) warnings.push('no targets: every callback is kept in the unrouted queue and delivered nowhere');
  else warnings.push(...unroutedWarnings(config));

  config.targets.forEach((target, index) => warnings.push(...targetWarnings(config, target, index, appIds)));
  return warnings;
}

function targetWarnings(config: RelayConfig, target: Target, index: number, appIds: readonly string[]): string[] {
  const warnings: string[] = [];
  const where = `targets[${index}] (${target.name})`;
  const unknownApps = (target.appIds ?? []).filter((appId) => !appIds.includes(appId));
  if (target.appIds && unknownApps.length === target.appIds.length) {
    warnings.push(`${where} matches nothing: appIds ${target.appIds.join(', ')} are not among zego.apps (${appIds.join(', ')})`);
  } else if (unknownApps.length > 0) {
    warnings.push(`${where}.appIds ${unknownApps.join(', ')} are not among zego.apps: those entries never match`);
  }
  for (const pattern of target.events) {
    const known = [...KNOWN_EVENTS].some((event) => eventMatches(pattern, event));
    const family = pattern.startsWith('transcode_') || pattern.startsWith('censor_');
    if (!known && !family) {
      warnings.push(
        config.zego.allowUnknownEvents
          ? `${where}.events "${pattern}" matches no known ZEGO event: check the spelling`
          : `${where}.events "${pattern}" matches no known ZEGO event and zego.allowUnknownEvents is false: it matches nothing`,
      );
    }
  }
  const url = new URL(target.url);
  if (url.pathname === DEMO_SINK_PATH && config.mode !== 'development') {
    warnings.push(`${where} is the demo sink, which answers only in mode: development: its deliveries will fail`);
  }
  if (url.protocol === 'http:' && !isLoopback(url.hostname) && config.mode === 'production') {
    warnings.push(`${where}.url is plain http: callbacks cross the network unencrypted`);
  }
  for (const [name, value] of Object.entries(target.headers)) {
    const credential = credentialOf(value);
    if (PLACEHOLDER.test(credential)) warnings.push(`${where}.headers.${name} looks like a placeholder: set the real value from the environment (\${VAR})`);
    else if (credential === '') warnings.push(`${where}.headers.${name} is empty: is its environment variable set?`);
  }
  if (url.username || url.password) warnings.push(`${where}.url carries credentials: prefer headers (e.g. Authorization: Bearer \${TOKEN})`);
  warnings.push(...orderingWarnings(config, target, where));
  return warnings;
}

/** Key fields that never name a key, and what several intake shards mean for the order. */
function orderingWarnings(config: RelayConfig, target: Target, where: string): string[] {
  if (!target.ordering) return [];
  const warnings: string[] = [];
  for (const field of target.ordering.key) {
    if (PER_SEND_FIELDS.has(field)) {
      warnings.push(`${where}.ordering.key "${field}" changes on every send: every callback would be a key of its own, and ZEGO's re-sends would not share one`);
    } else if (!DOCUMENTED_FIELDS.has(field) && !Object.values(COMMON_FIELDS).flat().includes(field as never)) {
      warnings.push(`${where}.ordering.key "${field}" is carried by no documented ZEGO event: check the spelling (callbacks without any key field are delivered unordered)`);
    }
  }
  if (config.intake.shards > 1) {
    warnings.push(
      `${where}.ordering with intake.shards ${config.intake.shards}: a key's callbacks acknowledged in the same millisecond, or within the Redis nodes' clock difference, may be delivered in either order (one shard keeps the exact order)`,
    );
  }
  return warnings;
}

/**
 * Events of an app that no target takes: ZEGO sends every event it has to the one callback URL, so
 * they arrive and are kept in the unrouted queue, within retention.unroutedCount and unroutedAge.
 * Apps with the same routed events share one warning.
 */
function unroutedWarnings(config: RelayConfig): string[] {
  const routedByApp = new Map<string, string[]>();
  for (const { appId } of config.zego.apps) {
    const targets = config.targets.filter((target) => !target.appIds || target.appIds.includes(appId));
    const patterns = targets.flatMap((target) => target.events);
    // Only `*` takes every event, the undocumented ones included.
    if (patterns.includes('*')) continue;
    const routed = [
      ...[...KNOWN_EVENTS].filter((event) => patterns.some((pattern) => eventMatches(pattern, event))),
      ...KNOWN_EVENT_FAMILIES.filter((family) => patterns.some((pattern) => pattern.endsWith('*') && family.startsWith(pattern.slice(0, -1)))).map((family) => `${family}*`),
    ];
    const allKnownRouted = routed.length === KNOWN_EVENTS.size + KNOWN_EVENT_FAMILIES.length;
    if (allKnownRouted && !config.zego.allowUnknownEvents) continue;
    const key = routed.join(', ');
    routedByApp.set(key, [...(routedByApp.get(key) ?? []), appId]);
  }
  const { unroutedCount, unroutedAge } = config.retention;
  const kept = unroutedCount === 0
    ? 'they are removed at once (retention.unroutedCount: 0)'
    : `they are kept as unrouted callbacks, bodies included, up to ${unroutedCount} for ${formatDuration(unroutedAge)} (retention.unroutedCount, retention.unroutedAge)`;
  return [...routedByApp].map(([routed, appIds]) => {
    const apps = `${appIds.length > 1 ? 'apps' : 'app'} ${appIds.join(', ')}`;
    const events = routed === '' ? 'no event matches a target' : `events other than ${routed} match no target`;
    return `${apps}: ${events}: ${kept}`;
  });
}

/**
 * Apps that share a callback secret. ZEGO's signature covers no app id, so a callback signed for
 * one verifies as the other; nonces are bound across apps, but separate secrets keep them apart.
 */
function sharedSecretWarnings(config: RelayConfig): string[] {
  const appsBySecret = new Map<string, number[]>();
  config.zego.apps.forEach((app, index) => {
    for (const secret of new Set(app.callbackSecrets)) appsBySecret.set(secret, [...(appsBySecret.get(secret) ?? []), index]);
  });
  return [...appsBySecret.values()]
    .filter((indexes) => indexes.length > 1)
    .map((indexes) => {
      const apps = indexes.map((index) => `zego.apps[${index}] (${config.zego.apps[index]!.appId})`).join(', ');
      return `${apps} share a callback secret: a callback signed for one also verifies as the other; give each app its own secret`;
    });
}

/** For each app and each known event, the targets it is delivered to (configuration order). */
export function routingTable(config: RelayConfig): { appId: string; event: string; targets: string[] }[] {
  const rows: { appId: string; event: string; targets: string[] }[] = [];
  for (const { appId } of config.zego.apps) {
    for (const event of KNOWN_EVENTS) {
      rows.push({ appId, event, targets: config.targets.filter((target) => targetMatches(target, event, appId)).map((t) => t.name) });
    }
  }
  return rows;
}
