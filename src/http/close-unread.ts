/**
 * Closes the connection of a request answered before its body ended (413, 415, 404, ...).
 *
 * Node keeps a keep-alive connection by reading and discarding the rest of an unread body, and
 * the request timeout no longer applies once the answer is sent: a chunked body that never ends
 * is read for as long as the sender keeps sending (about 100 MB in 8 s, per connection). With
 * `Connection: close` Node ends the socket as soon as the answer is flushed; the destroy after a
 * short grace covers a client that never reads its answer.
 */
import type { Middleware } from 'koa';

/** How long a half-closed connection may linger (its client reading the answer) before it is cut. */
const LINGER_MS = 2_000;

/** Outermost middleware of a listener whose requests may carry bodies. */
export function closeUnreadBodies(): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } finally {
      if (!ctx.req.complete) {
        ctx.set('Connection', 'close');
        const { socket } = ctx.req;
        ctx.res.once('finish', () => {
          setTimeout(() => socket.destroy(), LINGER_MS).unref();
        });
      }
    }
  };
}
