/**
 * HTTP basic auth for the admin listener's Bull Board. Both the user name and the password are
 * compared in constant time (as SHA-256 digests, so their lengths do not leak either), and both
 * are always compared, so a wrong user name and a wrong password take the same time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Middleware } from 'koa';
import { HttpError } from '../errors.js';
import type { AdminState } from './audit.js';

export interface BasicAuthOptions {
  readonly username: string;
  readonly password: string;
  /** Shown by browsers in the login prompt. */
  readonly realm?: string;
}

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

function sameText(received: string, expected: string): boolean {
  return timingSafeEqual(digest(received), digest(expected));
}

/** The user name and password of an `Authorization: Basic ...` header, or undefined. */
export function parseBasicAuthorization(header: string | undefined): { username: string; password: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * A Koa middleware that lets a request through only with the configured credentials; anything
 * else gets 401 with `WWW-Authenticate` so browsers show their login prompt (the error middleware,
 * src/http/error-middleware.ts, writes the body).
 */
export function basicAuth(options: BasicAuthOptions): Middleware {
  const challenge = `Basic realm="${(options.realm ?? 'zego-relay admin').replace(/"/g, '')}", charset="UTF-8"`;
  return async (ctx, next) => {
    const credentials = parseBasicAuthorization(ctx.get('authorization') || undefined);
    const userMatches = sameText(credentials?.username ?? '', options.username);
    const passwordMatches = sameText(credentials?.password ?? '', options.password);
    if (credentials && userMatches && passwordMatches) {
      // For the audit line (audit.ts).
      (ctx.state as AdminState).adminUser = options.username;
      await next();
      return;
    }
    ctx.set('WWW-Authenticate', challenge);
    ctx.set('Cache-Control', 'no-store');
    throw new HttpError(401, 'unauthorized', 'admin credentials required (admin.username / admin.password)');
  };
}
