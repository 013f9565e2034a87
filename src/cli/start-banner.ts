/**
 * What `zego-relay start` prints for people once it runs: where to send callbacks, where the admin
 * listener is, the development-secret warning, and a ready-to-paste `simulate` command. Secrets
 * are never printed, except the built-in development secret, which is public by design.
 */
import { DEVELOPMENT_SECRET, type RelayConfig } from '../config/load.js';
import { USER_AGENT } from '../deliver/user-agent.js';
import { reachableHost, safeUrl } from './show.js';

export type Role = 'all' | 'receiver' | 'worker';

export interface BannerFacts {
  readonly role: Role;
  readonly config: RelayConfig;
  /** The admin listener's URL, as bound. */
  readonly adminUrl: string;
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

/** The lines of the start-up banner. */
export function startBanner(facts: BannerFacts): string[] {
  const { config } = facts;
  const lines = [`${USER_AGENT} running: role ${facts.role}, mode ${config.mode}, config ${config.source}`];
  if (facts.receiverPort !== undefined) lines.push(`  callbacks  POST ${callbackUrl(config, facts.receiverPort)}  (give this URL, behind HTTPS, to ZEGO)`);
  lines.push(
    `  admin      ${facts.adminUrl}/metrics · /healthz · /readyz · ${config.admin.password ? `Bull Board ${facts.adminUrl}/admin/queues · admin API /admin/api` : 'Bull Board and admin API off (set ADMIN_PASSWORD)'}`,
  );
  lines.push(`  redis      ${safeUrl(config.redis.url)}${facts.privateRedis ? ` (private redis-server started by the relay, data in ${facts.redisDir}; set REDIS_URL to use your own)` : ''}`);
  if (facts.role !== 'receiver') {
    lines.push(`  targets    ${config.targets.length ? config.targets.map((target) => `${target.name} -> ${safeUrl(target.url)}`).join(', ') : 'none'}`);
  }
  const devSecret = usesDevelopmentSecret(config);
  if (devSecret) {
    lines.push(`  WARNING    the development callback secret "${DEVELOPMENT_SECRET}" is accepted: for trying the relay locally only. Set ZEGO_CALLBACK_SECRET (production refuses it).`);
  }
  if (facts.receiverPort !== undefined) {
    const app = config.zego.apps[0]!;
    const secret = devSecret && app.callbackSecrets.includes(DEVELOPMENT_SECRET) ? DEVELOPMENT_SECRET : '"$ZEGO_CALLBACK_SECRET"';
    lines.push(`  try it     npx zego-relay simulate --url ${callbackUrl(config, facts.receiverPort)} --app-id ${app.appId} --secret ${secret} --count 5`);
  }
  lines.push('  stop       Ctrl-C (or SIGTERM): stops listening, lets deliveries in flight finish, then exits');
  return lines;
}
