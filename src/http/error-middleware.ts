/**
 * The one place that writes error responses (the error body of docs/PROTOCOL.md#the-receiver). An HttpError answers with
 * its status and code; its message is shown only when `expose` says so. Anything else is a bug:
 * 500 with a generic message, and the real error goes to the log, never to the client.
 */
import type { Middleware } from 'koa';
import { HttpError } from '../errors.js';
import type { Logger } from '../lib/logger.js';

/** The error body: `{"ok":false,"error":{"code","message"}}` (docs/PROTOCOL.md#the-receiver). */
export interface ErrorBody {
  ok: false;
  error: { code: string; message: string };
}

/** The one place that shapes an error body: the middleware's, and /readyz's 503 (health.ts). */
export function errorBody(code: string, message: string): ErrorBody {
  return { ok: false, error: { code, message } };
}

export interface ErrorMiddlewareOptions {
  /**
   * Leave to Koa the client errors (a 4xx `status` on an error not ours) that Koa's helpers throw
   * in apps mounted inside ours (Bull Board's body parser and static files on the admin listener):
   * they are not bugs, and Koa answers them as it did before this middleware was app-wide there.
   */
  readonly leaveKoaClientErrors?: boolean;
}

const GENERIC_MESSAGES: Record<number, string> = {
  500: 'internal error',
  503: 'the relay cannot store callbacks right now; retry later',
};

/** Catches every error thrown downstream and answers it as JSON. */
export function errorMiddleware(logger: Logger, options: ErrorMiddlewareOptions = {}): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      const httpError = error instanceof HttpError ? error : undefined;
      if (!httpError && options.leaveKoaClientErrors && isKoaClientError(error)) throw error;
      if (!httpError) logger.error({ err: error, method: ctx.method, path: ctx.path }, 'unexpected error while answering a request');
      const status = httpError?.status ?? 500;
      const code = httpError?.code ?? 'internal_error';
      const message = httpError?.expose ? httpError.message : (GENERIC_MESSAGES[status] ?? 'request failed');
      ctx.status = status;
      ctx.body = errorBody(code, message);
    }
  };
}

/** An error carrying a 4xx status, as Koa's `ctx.throw` and co-body's parse errors do; Koa answers with it. */
function isKoaClientError(error: unknown): boolean {
  const status = (error as { status?: unknown } | null | undefined)?.status;
  return typeof status === 'number' && status >= 400 && status < 500;
}
