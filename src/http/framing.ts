/**
 * No page of another site may frame the admin listener (clickjacking Bull Board's buttons): every
 * answer, an error Koa writes itself included, carries `X-Frame-Options: DENY` and
 * `Content-Security-Policy: frame-ancestors 'none'`. Nothing else is restricted, so Bull Board's
 * own scripts and styles load as before.
 */
import type { Middleware } from 'koa';

export const NO_FRAMING_HEADERS: Readonly<Record<string, string>> = {
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "frame-ancestors 'none'",
};

/** The admin app's first middleware. */
export function forbidFraming(): Middleware {
  return async (ctx, next) => {
    ctx.set(NO_FRAMING_HEADERS);
    try {
      await next();
    } catch (error) {
      // Koa's own error answer clears the headers set so far, then sets the error's.
      if (error !== null && typeof error === 'object') {
        const carrier = error as { headers?: Record<string, string> };
        carrier.headers = { ...carrier.headers, ...NO_FRAMING_HEADERS };
      }
      throw error;
    }
  };
}
