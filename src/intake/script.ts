/**
 * The receiver's Redis calls per callback, as our own Lua on our own keys (names.ts):
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
 * On one Redis (or Sentinel) steps 1-4 are ONE call (INTAKE). On a Redis Cluster the nonce key has
 * a slot of its own, so steps 1-2 (BIND_NONCE) run first on the nonce's node and steps 3-4 (APPEND)
 * on the shard's node; callback-store.ts explains why that order is safe.
 *
 * ARGV, the same for every script: [1] callback id, [2] nonce TTL s, [3] dedupe TTL s, [4] event,
 * [5] app id, [6] body, [7] receivedAt (ms), [8] '1' when a duplicate must write (see below),
 * [9] the trace context, only while tracing is on (stored as the entry's `trace` field).
 * KEYS: INTAKE nonce, seen, stream; BIND_NONCE nonce; APPEND seen, stream.
 *
 * A duplicate writes too when the receiver waits for replicas (`redis.waitReplicas`): it renews
 * the seen marker's own expiry time, unchanged. WAIT counts the replicas that have every write this
 * connection made; the write that stored the callback may have come from another receiver, so the
 * duplicate's own (later, same node) write is what makes WAIT cover it.
 */

const bindNonce = (nonceKey: string) => `
local bound = redis.call('GET', ${nonceKey})
if bound and bound ~= ARGV[1] then
  return 'replayed'
end
if not bound then
  redis.call('SET', ${nonceKey}, ARGV[1], 'EX', ARGV[2])
end`;

const append = (seenKey: string, streamKey: string) => `
if redis.call('EXISTS', ${seenKey}) == 1 then
  -- Only when waiting for replicas: PEXPIRETIME needs Redis 7, the rest runs on 6.2 too.
  if ARGV[8] == '1' then
    local expiresAt = redis.call('PEXPIRETIME', ${seenKey})
    if expiresAt > 0 then
      redis.call('PEXPIREAT', ${seenKey}, expiresAt)
    end
  end
  return 'duplicate'
end
local entry
if ARGV[9] then
  entry = redis.call('XADD', ${streamKey}, '*', 'id', ARGV[1], 'event', ARGV[4], 'app', ARGV[5], 'body', ARGV[6], 'at', ARGV[7], 'trace', ARGV[9])
else
  entry = redis.call('XADD', ${streamKey}, '*', 'id', ARGV[1], 'event', ARGV[4], 'app', ARGV[5], 'body', ARGV[6], 'at', ARGV[7])
end
redis.call('SET', ${seenKey}, '1', 'EX', ARGV[3])
return entry`;

export interface IntakeScript {
  /** The ioredis command name it is defined under (`defineCommand`, ioredis' public API). */
  readonly command: string;
  readonly numberOfKeys: number;
  readonly lua: string;
}

/** Steps 1-4 in one call: one Redis, or Sentinel. */
export const INTAKE: IntakeScript = { command: 'zegoRelayIntake', numberOfKeys: 3, lua: `${bindNonce('KEYS[1]')}${append('KEYS[2]', 'KEYS[3]')}` };

/** Steps 1-2, on the nonce's own slot of a cluster: 'replayed' or 'bound'. */
export const BIND_NONCE: IntakeScript = { command: 'zegoRelayBindNonce', numberOfKeys: 1, lua: `${bindNonce('KEYS[1]')}\nreturn 'bound'` };

/** Steps 3-4, on the callback's shard of a cluster. */
export const APPEND: IntakeScript = { command: 'zegoRelayAppend', numberOfKeys: 2, lua: append('KEYS[1]', 'KEYS[2]') };

/** The field names of an intake entry, as the scripts write them. */
export const INTAKE_FIELDS = { callbackId: 'id', event: 'event', appId: 'app', body: 'body', receivedAt: 'at', traceContext: 'trace' } as const;

/** `replayed`: the nonce came before with another callback id; nothing was written. */
export type StoreOutcome = 'stored' | 'duplicate' | 'replayed';

/** A Redis Stream entry id, `<ms>-<seq>`. */
const STREAM_ID = /^\d+-\d+$/;

/**
 * What a reply of INTAKE or APPEND proves. 'stored' only with the new entry's stream id in hand:
 * the script returns one only after its XADD succeeded.
 * @throws Error for any other reply: it proves no write (the receiver answers 503, ZEGO retries).
 */
export function intakeVerdict(reply: unknown): StoreOutcome {
  if (reply === 'replayed' || reply === 'duplicate') return reply;
  if (typeof reply === 'string' && STREAM_ID.test(reply)) return 'stored';
  // Shortened: a reply no script gives could be anything, a whole body included.
  throw new Error(`unexpected answer from the intake script: ${String(reply).slice(0, 40)}`);
}
