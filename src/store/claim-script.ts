/**
 * Round trip 1 of storing a callback, as one Lua script so the nonce check and the seen check are
 * atomic: a nonce is bound to the first callback id it came with (replay defense, ZEGO's signature
 * covers no body field), and the seen marker tells a re-send from a new callback.
 *
 * KEYS[1] nonce marker, KEYS[2] seen marker; ARGV[1] callback id, ARGV[2] nonce TTL in seconds.
 * Returns 'replayed', 'duplicate' or 'new'.
 */
export const CLAIM_SCRIPT = `
local bound = redis.call('GET', KEYS[1])
if bound and bound ~= ARGV[1] then
  return 'replayed'
end
if not bound then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 'duplicate'
end
return 'new'
`;

/** The ioredis command name the script is defined under. */
export const CLAIM_COMMAND = 'zegoRelayClaim';

export type ClaimResult = 'replayed' | 'duplicate' | 'new';
