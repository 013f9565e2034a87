/** The admin listener's guards answer what they refuse the same way: 403 `forbidden`, never cached. */
import type { Context } from 'koa';
import type { ErrorBody } from '../http/error-middleware.js';

export function refuse(ctx: Context, message: string): void {
  ctx.status = 403;
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { ok: false, error: { code: 'forbidden', message } } satisfies ErrorBody;
}
