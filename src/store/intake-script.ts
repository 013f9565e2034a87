/**
 * The receiver's one atomic Redis call per callback, as our own Lua on our own keys (all three
 * share the intake shard's hash tag, see names.ts):
 *   1. a nonce already bound to another callback id: 'replayed', nothing else is written;
 *   2. otherwise the nonce is bound (a re-send's fresh nonce too: left unbound, it could carry a
 *      forged body next, since ZEGO's signature covers no body field);
 *   3. the seen marker present: 'duplicate';
 *   4. otherwise the callback is appended to the intake stream, THEN marked seen, and the new
 *      entry's id is returned.
 * A script runs atomically, and the XADD comes before the seen marker: if the append fails (OOM
 * under noeviction, a wrong key type) the script stops there, nothing marks the callback seen,
 * the receiver answers 503 and ZEGO's retry stores it.
 *
 * KEYS[1] nonce marker, KEYS[2] seen marker, KEYS[3] intake stream.
 * ARGV[1] callback id, ARGV[2] nonce TTL s, ARGV[3] dedupe TTL s, ARGV[4] event, ARGV[5] app id,
 * ARGV[6] body, ARGV[7] receivedAt (ms).
 */
export const INTAKE_SCRIPT = `
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
local entry = redis.call('XADD', KEYS[3], '*', 'id', ARGV[1], 'event', ARGV[4], 'app', ARGV[5], 'body', ARGV[6], 'at', ARGV[7])
redis.call('SET', KEYS[2], '1', 'EX', ARGV[3])
return entry
`;

/** The ioredis command name the script is defined under (`defineCommand`, ioredis' public API). */
export const INTAKE_COMMAND = 'zegoRelayIntake';

/** The field names of an intake entry, as the script writes them. */
export const INTAKE_FIELDS = { callbackId: 'id', event: 'event', appId: 'app', body: 'body', receivedAt: 'at' } as const;
