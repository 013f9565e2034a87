/** The admin listener's guards answer what they refuse the same way: 403 `forbidden`, never cached. */
import type { Context } from 'koa';
import { HttpError } from '../errors.js';

/** Throws the refusal for the error middleware (src/http/error-middleware.ts) to answer. */
export function refuse(ctx: Context, message: string): never {
  ctx.set('Cache-Control', 'no-store');
  throw new HttpError(403, 'forbidden', message);
}
