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

const GENERIC_MESSAGES: Record<number, string> = {
  500: 'internal error',
  503: 'the relay cannot store callbacks right now; retry later',
};

/** Catches every error thrown downstream and answers it as JSON. */
export function errorMiddleware(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      const httpError = error instanceof HttpError ? error : undefined;
      if (!httpError) logger.error({ err: error, method: ctx.method, path: ctx.path }, 'unexpected error while answering a request');
      const status = httpError?.status ?? 500;
      const code = httpError?.code ?? 'internal_error';
      const message = httpError?.expose ? httpError.message : (GENERIC_MESSAGES[status] ?? 'request failed');
      ctx.status = status;
      ctx.body = { ok: false, error: { code, message } } satisfies ErrorBody;
    }
  };
}
