/**
 * ZEGO's callback signature (ZEGO's server callback documentation): lowercase hex SHA-1 of
 * [secret, timestamp, nonce] sorted as strings and joined with no separator.
 * timestamp and nonce are hashed as the exact text that was sent.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export function zegoSignature(secret: string, timestamp: string, nonce: string): string {
  // Plain `sort()` compares UTF-16 code units: the dictionary order ZEGO uses ('99' > '1470820198').
  const joined = [secret, timestamp, nonce].sort().join('');
  return createHash('sha1').update(joined).digest('hex');
}

/** True when `signature` matches any of the app's secrets, compared in constant time. */
export function verifyZegoSignature(
  secrets: readonly string[],
  timestamp: string,
  nonce: string,
  signature: string,
): boolean {
  const received = Buffer.from(signature.toLowerCase(), 'utf8');
  let matched = false;
  // Every secret is tried, even after a match, so timing does not tell which one matched.
  for (const secret of secrets) {
    const expected = Buffer.from(zegoSignature(secret, timestamp, nonce), 'utf8');
    if (expected.length === received.length && timingSafeEqual(expected, received)) matched = true;
  }
  return matched;
}

/**
 * What the replay defence binds to a callback id (names.ts replayKey): the verified signature, in
 * lower case since the comparison ignores case. It stands for the exact text that was signed, so
 * every (timestamp, nonce) spelling that signs to it (a `0` moved from the nonce's end to the
 * timestamp's front sorts and joins the same) meets the same binding.
 */
export function replayKeyOf(signature: string): string {
  return signature.toLowerCase();
}
