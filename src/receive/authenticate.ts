/**
 * Who sent it and when (401s): the app must be configured, the signature must match one of its
 * secrets, and the timestamp must be within the tolerance in both directions. Pure: time comes in.
 */
import { HttpError } from '../errors.js';
import { verifyZegoSignature } from './signature.js';
import type { Callback } from './validate.js';

export interface AuthenticationOptions {
  /** Secrets by app id (`zego.apps`). */
  secretsByApp: ReadonlyMap<string, readonly string[]>;
  toleranceSeconds: number;
  /** Now, in ms since the epoch. */
  now: number;
}

/** Throws 401 unknown_app, bad_signature or stale_timestamp, in that order. */
export function authenticate(callback: Callback, options: AuthenticationOptions): void {
  const secrets = options.secretsByApp.get(callback.appId);
  if (!secrets) throw new HttpError(401, 'unknown_app', 'this appid is not configured');
  if (!verifyZegoSignature(secrets, callback.timestamp, callback.nonce, callback.signature)) {
    throw new HttpError(401, 'bad_signature', 'the signature does not match');
  }
  const skewSeconds = Math.abs(options.now / 1000 - Number(callback.timestamp));
  if (!(skewSeconds <= options.toleranceSeconds)) {
    throw new HttpError(401, 'stale_timestamp', `the timestamp is more than ${options.toleranceSeconds} s away from the relay's clock`);
  }
}

/** The lookup `authenticate` needs, built once from `zego.apps`. */
export function secretsByApp(apps: readonly { appId: string; callbackSecrets: readonly string[] }[]): Map<string, readonly string[]> {
  return new Map(apps.map((app) => [app.appId, app.callbackSecrets]));
}
