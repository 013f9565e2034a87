/**
 * The admin listener's defence against cross-site requests. Bull Board and the admin API sit
 * behind HTTP basic auth, and a browser that has logged in once sends that login with any request
 * to the listener, including a form a page on another site submits (CSRF): a POST to Bull Board's
 * add-job endpoint would queue a forged callback for delivery, signed. So a request the browser
 * marks as coming from another page than the admin listener's own is refused with 403:
 * - any state-changing request (POST, PUT, PATCH, DELETE) anywhere on the listener;
 * - any request at all to the admin API (`/admin/api/...`).
 * "Another page" is `Sec-Fetch-Site: cross-site` or `same-site` (another port of the same host is
 * another site here), or an `Origin` whose host is not this listener's. Requests without those
 * headers (curl, scripts, Prometheus, the relay's own demo-sink deliveries) are not from a page
 * and pass; top-level navigation (a link to Bull Board) passes too.
 */
import type { Context, Middleware } from 'koa';
import { refuse } from './refuse.js';

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The admin API: refused cross-site whatever the method, it answers JSON a page should not read. */
export const ADMIN_API_PREFIX = '/admin/api';

/** A Koa middleware for the admin listener; mount it before every route. */
export function refuseCrossSite(): Middleware {
  return async (ctx, next) => {
    // Lower case: a router matching paths case-insensitively must not be reached by /ADMIN/API.
    const path = ctx.path.toLowerCase();
    const guarded = STATE_CHANGING.has(ctx.method) || path === ADMIN_API_PREFIX || path.startsWith(`${ADMIN_API_PREFIX}/`);
    if (!guarded || !fromAnotherPage(ctx)) return next();
    refuse(ctx, 'cross-site request refused: use the admin listener from its own pages, or without a browser');
  };
}

/**
 * True when the browser says the request comes from a page of another site or origin.
 * The Origin is compared by host and port only: behind a TLS proxy the page is https and this
 * listener sees http, but the proxy passes the Host through.
 */
function fromAnotherPage(ctx: Context): boolean {
  const fetchSite = ctx.get('sec-fetch-site').toLowerCase();
  if (fetchSite === 'cross-site' || fetchSite === 'same-site') return true;
  const origin = ctx.get('origin');
  if (!origin) return false;
  try {
    return new URL(origin).host !== ctx.host.toLowerCase();
  } catch {
    // `Origin: null` (a sandboxed frame, a redirect chain, a file: page) is nobody we know.
    return true;
  }
}
