/**
 * Standard Webhooks v1 signatures (https://www.standardwebhooks.com): the target verifies
 * `webhook-signature` with its `whsec_` secret, e.g. with the `standardwebhooks` library.
 */
import { createHmac } from 'node:crypto';

const SECRET_PREFIX = 'whsec_';

/** The HMAC key of a `whsec_...` secret: the base64 after the prefix, as bytes. */
function secretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
}

/**
 * The `webhook-signature` header value: `v1,BASE64` per secret, space-separated, so a target in
 * the middle of a secret rotation verifies with either its old or its new secret.
 * Returns undefined when there are no secrets (the header is then not sent).
 */
export function signWebhook(
  secrets: readonly string[],
  webhookId: string,
  timestampSeconds: number,
  body: string,
): string | undefined {
  if (secrets.length === 0) return undefined;
  const signed = `${webhookId}.${timestampSeconds}.${body}`;
  return secrets
    .map((secret) => `v1,${createHmac('sha256', secretKey(secret)).update(signed, 'utf8').digest('base64')}`)
    .join(' ');
}
