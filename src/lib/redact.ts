/**
 * Making text safe to print when it may hold a secret: credentials in URLs (a Redis URL with
 * `user:password@`), the path and query of a target's URL, and the names of keys whose values are
 * secrets. Used by the log serializer, the CLI's output, the admin API and the configuration's
 * error messages.
 */

/**
 * Up to the last `@` before a space or quote: a password typed unencoded may hold `/`, `?`, `#`
 * or `@` itself, and masking a little too much is the safe side.
 */
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s"'<>]*@/gi;

/** `text` with the user and password of every URL in it replaced by `[redacted]`. */
export function maskUrlCredentials(text: string): string {
  return text.replace(URL_CREDENTIALS, '$1[redacted]@');
}

/** A key whose value is a secret: callbackSecrets, password, signingSecret, Authorization, a token... */
export const SECRET_KEY = /secret|passw|token|authori[sz]ation|api[-_]?key|credential|cookie|private[-_]?key/i;

/**
 * A URL as it is shown anywhere (check-config, the start banner, logs, the admin API): scheme,
 * host and port (when not the scheme's default) and the first path segment; the rest of the path
 * masked, never the user, the password or the query. A target's URL often carries a token in its
 * path (`.../webhooks/123456/TOKEN`) or query.
 */
export function displayUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return '(not a URL)';
  }
  const [, first = '', ...rest] = url.pathname.split('/');
  const more = rest.some((segment) => segment !== '') ? '/***' : '';
  return `${url.protocol}//${url.host}/${first}${more}${url.search ? '?***' : ''}`;
}

const HTTP_URL = /\bhttps?:\/\/[^\s"'<>]+/gi;

/** `text` with every http(s) URL in it shown as {@link displayUrl} shows it. */
export function maskHttpUrls(text: string): string {
  return text.replace(HTTP_URL, (url) => displayUrl(url));
}
