/**
 * The audit trail of the admin listener: every state-changing request (POST, PUT, PATCH, DELETE)
 * to Bull Board, the admin API or any other admin path is logged at info level, answered or
 * refused, with `audit: true`, the user who logged in (null when no one did), the method, the
 * path, the status and its outcome. Only the demo sink's deliveries (the relay's own traffic in
 * development) are left out. The query and the body are not logged: they may hold anything.
 */
import type { Context, Middleware } from 'koa';
import type { Logger } from '../lib/logger.js';

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Where basicAuth leaves the name of the user it let in. */
export interface AdminState {
  adminUser?: string;
}

/** `done` (2xx, 3xx), `refused` (4xx) or `failed` (5xx). */
export type AuditOutcome = 'done' | 'refused' | 'failed';

export function auditOutcome(status: number): AuditOutcome {
  if (status >= 500) return 'failed';
  return status >= 400 ? 'refused' : 'done';
}

/** Outermost but for the framing headers: it must see the answers of every guard after it. */
export function auditAdminWrites(logger: Logger, options: { exceptPath?: string } = {}): Middleware {
  return async (ctx, next) => {
    if (!STATE_CHANGING.has(ctx.method) || ctx.path === options.exceptPath) return next();
    let status = 500;
    try {
      await next();
      status = ctx.status;
    } catch (error) {
      status = statusOf(error);
      throw error;
    } finally {
      logger.info(auditLine(ctx, status), 'admin request');
    }
  };
}

function auditLine(ctx: Context, status: number) {
  const user = (ctx.state as AdminState).adminUser ?? null;
  return { audit: true, user, method: ctx.method, path: ctx.path, status, outcome: auditOutcome(status) };
}

function statusOf(error: unknown): number {
  const status = (error as { status?: unknown } | undefined)?.status;
  return typeof status === 'number' && status >= 400 && status < 600 ? status : 500;
}
