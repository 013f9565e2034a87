/**
 * `POST server.callbackPath`: read, decode, validate, authenticate, identify, store, answer, in
 * that order (each step is cheaper than the next; nothing touches Redis before the 401 checks).
 * Every request ends in one typed outcome (accepted, refused, failed), booked in one place
 * (book-outcome.ts): the metric, the log line and, for a refusal, the rejected list.
 */
import { performance } from 'node:perf_hooks';
import type { Middleware } from 'koa';
import type { RelayConfig } from '../config/load.js';
import { HttpError } from '../errors.js';
import type { Logger } from '../lib/logger.js';
import type { CallbackToStore } from '../intake/callback-store.js';
import type { IntakeOutcome } from '../spool/spooling-store.js';
import { startCallbackSpan } from '../trace/callback-span.js';
import { authenticate, secretsByApp } from './authenticate.js';
import { accepted, bookOutcome, outcomeOfError, type AcceptedAs } from './book-outcome.js';
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
    const contentType = ctx.get('content-type') || undefined;
    // What the steps learnt before they ended: the log line's fields and the rejected sample's.
    const seen: Seen = { authenticated: false };

    /** The steps, in order; each records in `seen` what it learnt. Throws an HttpError to refuse. */
    const receive = async (): Promise<{ id: string; as: AcceptedAs }> => {
      seen.body = await readBody(ctx.req, bodyLimit);
      seen.decoded = decodeBody(callbackText(seen.body, contentType));
      const callback = (seen.callback = validateCallback(seen.decoded, validation));
      const receivedAt = now();
      authenticate(callback, { secretsByApp: secrets, toleranceSeconds, now: receivedAt });
      seen.authenticated = true;
      const id = (seen.id = callbackId(callback));
      const toStore = { callbackId: id, event: callback.event, appId: callback.appId, replayKey: replayKeyOf(callback.signature), body: callback.forwardBody, ...span?.stored };
      const stored = await (span ? span.storing(() => store.store(toStore, receivedAt)) : store.store(toStore, receivedAt));
      if (stored === 'replayed') {
        throw new HttpError(401, 'replayed_nonce', 'this nonce was already used with a different callback');
      }
      return { id, as: stored };
    };

    const outcome = await receive().then(
      ({ id, as }) => {
        ctx.body = (as === 'spooled' ? { ok: true, id, duplicate: false, spooled: true } : { ok: true, id, duplicate: as === 'duplicate' }) satisfies StoredBody;
        return accepted(as);
      },
      (error: unknown) => outcomeOfError(error, (refusal) => rejectedRequest(refusal, seen.body, contentType, now(), seen.decoded)),
    );
    const { callback } = seen;
    bookOutcome({ logger, rejections }, outcome, { callbackId: seen.id, event: callback?.event, appId: callback?.appId, authenticated: seen.authenticated }, performance.now() - started, span);
    // The error middleware writes the error body.
    if (outcome.kind !== 'accepted') throw outcome.error;
  };
}

/** What the handler's steps learnt of a request, as far as they got. */
interface Seen {
  body?: Buffer;
  decoded?: DecodedBody;
  callback?: Callback;
  authenticated: boolean;
  id?: string;
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
