/**
 * DNS rebinding: a page on `evil.example` whose name the attacker re-points at 127.0.0.1 makes
 * the operator's browser send its requests to a loopback admin listener, as same-origin requests
 * of `evil.example`; it could read /metrics, and Bull Board with a cached login. The browser still
 * names the site it thinks it talks to in `Host`. So while the admin listener binds to a loopback
 * address, it answers only requests whose Host is a loopback name or address (127.x.x.x, ::1,
 * localhost, any port), or one of `admin.allowedHosts`; anything else is 403 before any route.
 */
import type { Middleware } from 'koa';
import { refuse } from './refuse.js';
import { isLoopback } from './credentials.js';

/**
 * The host name of a `Host` header (`[::1]:9090` -> `::1`, `Localhost:80` -> `localhost`), or
 * undefined when it is not one.
 */
export function hostNameOf(header: string): string | undefined {
  const match = /^(?:\[([0-9a-f:.]+)\]|([^:[\]\s]+))(?::\d{1,5})?$/i.exec(header.trim());
  if (!match) return undefined;
  return (match[1] ?? match[2]!).toLowerCase();
}

/** True when a request with this `Host` may reach a loopback admin listener. */
export function isAllowedHost(header: string | undefined, allowedHosts: readonly string[]): boolean {
  const name = header === undefined ? undefined : hostNameOf(header);
  if (name === undefined) return false;
  return isLoopback(name) || allowedHosts.some((allowed) => hostNameOf(allowed) === name);
}

/** Mounted only when the admin listener binds to a loopback address. */
export function refuseForeignHost(allowedHosts: readonly string[]): Middleware {
  return async (ctx, next) => {
    if (isAllowedHost(ctx.get('host') || undefined, allowedHosts)) return next();
    refuse(ctx, 'this admin listener answers only requests addressed to a loopback host (or one of admin.allowedHosts)');
  };
}
