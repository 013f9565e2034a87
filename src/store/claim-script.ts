/**
 * The admission check of storing a callback, as one Lua script so the nonce check and the seen
 * check are atomic: a nonce is bound to the first callback id it came with (replay defense, ZEGO's
 * signature covers no body field), and the seen marker tells a re-send from a new callback.
 *
 * It runs between WATCH of the guard key and the MULTI that stores the jobs, in the same pipeline
 * (callback-store.ts). When the callback must not be stored it writes the guard key, which makes
 * that EXEC abort: one round trip decides and stores.
 *
 * KEYS[1] nonce marker, KEYS[2] seen marker, KEYS[3] guard; ARGV[1] callback id, ARGV[2] nonce TTL
 * in seconds. Returns 'replayed', 'duplicate' or 'new'.
 */
export const CLAIM_SCRIPT = `
local verdict = 'new'
local bound = redis.call('GET', KEYS[1])
if bound and bound ~= ARGV[1] then
  verdict = 'replayed'
elseif redis.call('EXISTS', KEYS[2]) == 1 then
  verdict = 'duplicate'
end
-- Bind an unbound nonce whatever the verdict: a re-send (duplicate) comes with a fresh nonce, and
-- left unbound, that nonce could carry a forged body next. This write is outside the MULTI, so it
-- stays even when the EXEC below aborts.
if not bound then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
if verdict ~= 'new' then
  redis.call('SET', KEYS[3], '1', 'PX', 1000)
end
return verdict
`;

/** The ioredis command name the script is defined under. */
export const CLAIM_COMMAND = 'zegoRelayClaim';

export type ClaimResult = 'replayed' | 'duplicate' | 'new';
