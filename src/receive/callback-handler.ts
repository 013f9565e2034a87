/**
 * `POST server.callbackPath`: read, decode, validate, authenticate, identify, store, answer, in
 * that order (each step is cheaper than the next; nothing touches Redis before the 401 checks).
 * Every request is counted in callbacksReceived and logged on one line, without secrets.
 */
import { performance } from 'node:perf_hooks';
import type { Middleware } from 'koa';
import type { RelayConfig } from '../config/load.js';
import { HttpError } from '../errors.js';
import type { Logger } from '../ops/logger.js';
import { callbacksReceived, eventLabel } from '../ops/metrics.js';
import type { CallbackStore } from '../store/callback-store.js';
import { authenticate, secretsByApp } from './authenticate.js';
import { callbackId } from './callback-id.js';
import { decodeBody } from './payload.js';
import { readCallbackBody } from './read-body.js';
import { validateCallback, type Callback } from './validate.js';

export interface CallbackHandlerDeps {
  config: RelayConfig;
  store: Pick<CallbackStore, 'store'>;
  logger: Logger;
  /** Milliseconds since the epoch; injectable for timestamp tests. */
  now: () => number;
}

/** The 200 body of CONTRACT.md. */
export interface StoredBody {
  ok: true;
  id: string;
  duplicate: boolean;
}

/** The Koa handler of the callback path. Errors are thrown for the error middleware to answer. */
export function callbackHandler(deps: CallbackHandlerDeps): Middleware {
  const { config, store, logger, now } = deps;
  const bodyLimit = config.server.bodyLimit;
  const validation = { allowUnknownEvents: config.zego.allowUnknownEvents };
  const secrets = secretsByApp(config.zego.apps);
  const toleranceSeconds = config.zego.timestampToleranceSeconds;

  return async (ctx) => {
    const started = performance.now();
    let callback: Callback | undefined;
    // Set once the signature verified: only then may the sender's event name become a label.
    let authenticated = false;
    let id: string | undefined;
    let outcome = 'internal_error';
    let status = 500;
    let failure: unknown;
    try {
      callback = validateCallback(decodeBody(await readCallbackBody(ctx.req, bodyLimit)), validation);
      const receivedAt = now();
      authenticate(callback, { secretsByApp: secrets, toleranceSeconds, now: receivedAt });
      authenticated = true;
      id = callbackId(callback);
      const stored = await store.store(
        { callbackId: id, event: callback.event, appId: callback.appId, nonce: callback.nonce, body: callback.forwardBody },
        receivedAt,
      );
      if (stored === 'replayed') {
        throw new HttpError(401, 'replayed_nonce', 'this nonce was already used with a different callback');
      }
      outcome = stored;
      status = 200;
      ctx.body = { ok: true, id, duplicate: stored === 'duplicate' } satisfies StoredBody;
    } catch (error) {
      failure = error;
      if (error instanceof HttpError) {
        outcome = error.code;
        status = error.status;
      }
      throw error;
    } finally {
      callbacksReceived.inc({ event: eventLabel(authenticated ? callback?.event : undefined), outcome });
      const line = {
        callbackId: id,
        event: callback?.event,
        appId: callback?.appId,
        outcome,
        status,
        ms: Math.round((performance.now() - started) * 10) / 10,
      };
      if (status >= 500) logger.warn({ ...line, err: causeOf(failure) }, 'callback not stored');
      else logger.info(line, status === 200 ? 'callback accepted' : 'callback rejected');
    }
  };
}

/** What to log about a 5xx: the underlying Redis error rather than our generic wrapper. */
function causeOf(error: unknown): unknown {
  return error instanceof Error && error.cause !== undefined ? error.cause : error;
}
