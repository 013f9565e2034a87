/**
 * Making text safe to print when it may hold a secret: credentials in URLs (a Redis URL with
 * `user:password@`), and the names of keys whose values are secrets. Used by the log serializer,
 * the CLI's error output and the configuration's error messages.
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
