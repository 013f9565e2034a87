/**
 * `POST server.callbackPath`: read, decode, validate, authenticate, identify, store, answer, in
 * that order (each step is cheaper than the next; nothing touches Redis before the 401 checks).
 * Every request is counted in callbacksReceived; a refused one (4xx) is also booked by Rejections
 * (counted by reason, sampled, summarised once a minute). An accepted callback is logged on one
 * info line; a refused one only at debug level, since a flood of bad requests must not flood the
 * log (the summary, the metric and the rejected list say what an operator needs).
 */
import { performance } from 'node:perf_hooks';
import type { Middleware } from 'koa';
import type { RelayConfig } from '../config/load.js';
import { HttpError } from '../errors.js';
import type { Logger } from '../lib/logger.js';
import { callbacksReceived, eventLabel } from '../shared/metrics.js';
import type { CallbackToStore } from '../intake/callback-store.js';
import type { IntakeOutcome } from '../spool/spooling-store.js';
import { startCallbackSpan } from '../trace/callback-span.js';
import { authenticate, secretsByApp } from './authenticate.js';
import { callbackId } from './callback-id.js';
import { decodeBody, type DecodedBody } from './payload.js';
import { replayKeyOf } from './signature.js';
import { BodyTooLargeError, callbackText, readBody } from '../http/read-body.js';
import { signatureValues, type RejectedRequest } from '../rejected/sample.js';
import type { Rejections } from '../rejected/rejections.js';
import { validateCallback, type Callback } from './validate.js';

/** Where an authenticated callback goes: Redis (src/intake/callback-store.ts), or the spool behind it (spool/spooling-store.ts). */
export interface IntakeStore {
  store(callback: CallbackToStore, receivedAt: number): Promise<IntakeOutcome>;
}

export interface CallbackHandlerDeps {
  config: RelayConfig;
  store: IntakeStore;
  logger: Logger;
  rejections: Rejections;
  /** Milliseconds since the epoch; injectable for timestamp tests. */
  now: () => number;
}

/** The 200 body: `{"ok":true,"id","duplicate"}`, plus `"spooled":true` from the spool (docs/PROTOCOL.md#the-receiver). */
export interface StoredBody {
  ok: true;
  id: string;
  duplicate: boolean;
  spooled?: true;
}

/** The Koa handler of the callback path. Errors are thrown for the error middleware to answer. */
export function callbackHandler(deps: CallbackHandlerDeps): Middleware {
  const { config, store, logger, rejections, now } = deps;
  const bodyLimit = config.server.bodyLimit;
  const validation = { allowUnknownEvents: config.zego.allowUnknownEvents };
  const secrets = secretsByApp(config.zego.apps);
  const toleranceSeconds = config.zego.timestampToleranceSeconds;

  return async (ctx) => {
    const started = performance.now();
    // Undefined while tracing is off: then nothing below records or adds anything.
    const span = startCallbackSpan(ctx.req, config.server.callbackPath);
    let callback: Callback | undefined;
    // Set once the signature verified: only then may the sender's event name become a label.
    let authenticated = false;
    let id: string | undefined;
    let outcome = 'internal_error';
    let status = 500;
    let failure: unknown;
    let body: Buffer | undefined;
    let decoded: DecodedBody | undefined;
    try {
      body = await readBody(ctx.req, bodyLimit);
      decoded = decodeBody(callbackText(body, ctx.get('content-type') || undefined));
      callback = validateCallback(decoded, validation);
      const receivedAt = now();
      authenticate(callback, { secretsByApp: secrets, toleranceSeconds, now: receivedAt });
      authenticated = true;
      id = callbackId(callback);
      const toStore = { callbackId: id, event: callback.event, appId: callback.appId, replayKey: replayKeyOf(callback.signature), body: callback.forwardBody, ...span?.stored };
      const stored = await (span ? span.storing(() => store.store(toStore, receivedAt)) : store.store(toStore, receivedAt));
      if (stored === 'replayed') {
        throw new HttpError(401, 'replayed_nonce', 'this nonce was already used with a different callback');
      }
      outcome = stored;
      status = 200;
      ctx.body = (stored === 'spooled' ? { ok: true, id, duplicate: false, spooled: true } : { ok: true, id, duplicate: stored === 'duplicate' }) satisfies StoredBody;
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
        ...span?.logFields,
      };
      span?.end(line, failure);
      if (status >= 500) logger.warn({ ...line, err: causeOf(failure) }, 'callback not stored');
      else if (status === 200) logger.info(line, 'callback accepted');
      else {
        logger.debug(line, 'callback rejected');
        // A 4xx status was set from the HttpError that was thrown.
        rejections.report(rejectedRequest(failure as HttpError, body, ctx.get('content-type') || undefined, now(), decoded));
      }
    }
  };
}

/**
 * A refused request for the rejected log: for a 413, what was read before the limit passed; for a
 * body that decoded, its signature values, to be masked wherever they appear.
 */
function rejectedRequest(error: HttpError, body: Buffer | undefined, contentType: string | undefined, at: number, decoded: DecodedBody | undefined): RejectedRequest {
  const { status, code, message } = error;
  if (error instanceof BodyTooLargeError) return { status, code, message, contentType, body: error.received, size: error.size, at };
  const signatures = decoded ? signatureValues(decoded.fields) : [];
  return { status, code, message, contentType, body: body ?? Buffer.alloc(0), at, signatures };
}

/** What to log about a 5xx: the underlying Redis error rather than our generic wrapper. */
function causeOf(error: unknown): unknown {
  return error instanceof Error && error.cause !== undefined ? error.cause : error;
}
