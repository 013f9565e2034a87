/**
 * What `zego-relay start` prints for people once it runs: where to send callbacks, where the admin
 * listener is, the Bull Board login, the development-secret warning, and a ready-to-paste
 * `simulate` command. Secrets are never printed, except the built-in development secret, which is
 * public by design, and a Bull Board password generated for this run (nobody could log in otherwise).
 */
import { DEVELOPMENT_SECRET, type RelayConfig } from '../config/load.js';
import { describeRedis } from '../config/redis-topology.js';
import { maskUrlCredentials } from '../lib/redact.js';
import { RELAY_VERSION } from '../shared/version.js';
import type { AdminCredentials } from '../admin/credentials.js';
import { BULL_BOARD_PATH } from '../admin/bull-board.js';
import { displayUrl } from '../lib/redact.js';
import { reachableHost } from '../lib/reachable-host.js';

export type Role = 'all' | 'receiver' | 'worker';

export interface BannerFacts {
  readonly role: Role;
  readonly config: RelayConfig;
  /** The admin listener's URL, as bound. */
  readonly adminUrl: string;
  /** Who may open Bull Board in this run; undefined: it is off. */
  readonly credentials: AdminCredentials | undefined;
  /** The receiver's bound port (undefined for the worker role). */
  readonly receiverPort: number | undefined;
  /** True when the relay started its own redis-server. */
  readonly privateRedis: boolean;
  readonly redisDir: string | undefined;
}

/** The callback URL a person on this machine would POST to. */
export function callbackUrl(config: RelayConfig, port: number): string {
  return `http://${reachableHost(config.server.host)}:${port}${config.server.callbackPath}`;
}

/** True when some app still verifies with the built-in development secret. */
export function usesDevelopmentSecret(config: RelayConfig): boolean {
  return config.zego.apps.some((app) => app.callbackSecrets.includes(DEVELOPMENT_SECRET));
}

/** Where Bull Board is and how to log in; the password only when it was generated for this run. */
function bullBoardLine(adminUrl: string, credentials: AdminCredentials | undefined): string {
  if (!credentials) return 'off (set ADMIN_PASSWORD to turn it on)';
  const url = `${adminUrl}${BULL_BOARD_PATH}`;
  if (!credentials.generated) return `${url}  user ${credentials.username}  password: admin.password (ADMIN_PASSWORD)`;
  return `${url}  user ${credentials.username}  password ${credentials.password}  (generated for this run; set ADMIN_PASSWORD to choose one)`;
}

/** The lines of the start-up banner. */
export function startBanner(facts: BannerFacts): string[] {
  const { config } = facts;
  const lines = [`zego-relay/${RELAY_VERSION} running: role ${facts.role}, mode ${config.mode}, config ${config.source}`];
  if (facts.receiverPort !== undefined) lines.push(`  callbacks  POST ${callbackUrl(config, facts.receiverPort)}  (give this URL, behind HTTPS, to ZEGO)`);
  lines.push(`  admin      ${facts.adminUrl}/metrics · /healthz · /readyz`);
  lines.push(`  bull board ${bullBoardLine(facts.adminUrl, facts.credentials)}`);
  lines.push(`  redis      ${describeRedis(config.redis)}${facts.privateRedis ? ` (private redis-server started by the relay, data in ${facts.redisDir}; set REDIS_URL to use your own)` : ''}`);
  if (config.tracing) lines.push(`  tracing    OTLP ${config.tracing.protocol} to ${maskUrlCredentials(config.tracing.url)} (OTEL_* variables)`);
  if (facts.role !== 'receiver') {
    lines.push(`  targets    ${config.targets.length ? config.targets.map((target) => `${target.name} -> ${displayUrl(target.url)}`).join(', ') : 'none'}`);
  }
  const devSecret = usesDevelopmentSecret(config);
  if (devSecret) {
    lines.push(`  WARNING    the development callback secret "${DEVELOPMENT_SECRET}" is accepted: for trying the relay locally only. Set ZEGO_CALLBACK_SECRET (production refuses it).`);
  }
  if (facts.receiverPort !== undefined) {
    const app = config.zego.apps[0]!;
    // The secret never goes on a command line (the process list shows it): simulate reads
    // ZEGO_CALLBACK_SECRET. Only the public development secret is spelled out.
    const simulate = `npx zego-relay simulate --url ${callbackUrl(config, facts.receiverPort)} --app-id ${app.appId} --count 5`;
    lines.push(
      devSecret && app.callbackSecrets.includes(DEVELOPMENT_SECRET)
        ? `  try it     ZEGO_CALLBACK_SECRET=${DEVELOPMENT_SECRET} ${simulate}`
        : `  try it     ${simulate}  (the secret from $ZEGO_CALLBACK_SECRET, or --secret-file FILE)`,
    );
  }
  lines.push('  stop       Ctrl-C (or SIGTERM): stops listening, lets deliveries in flight finish, then exits');
  return lines;
}
