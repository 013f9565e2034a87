/**
 * The key gate's Lua: our own scripts on our own keys, all under one target's hash tag
 * (key-gate.ts names them). A script gets the first key (the heads hash) in KEYS, for routing on a
 * cluster, and builds the others from the base in ARGV[1]: they share its hash tag, so its slot.
 *
 * Layout under BASE = `{PREFIX:deliver-NAME}:ordering`:
 *   BASE:q:KEY      sorted set (lexical) `POSITION|JOBID`: the key's unfinished deliveries
 *   BASE:last:KEY   the position of the key's last finished delivery (expires)
 *   BASE:dead:KEY   sorted set `POSITION|JOBID`: the key's dead letters, parked for a replay (expires)
 *   BASE:heads      hash KEY -> `STATE|SINCE|JOBID`: the key's head, r(eleased) or a(dmitted)
 *   BASE:check      sorted set KEY -> when the reconciler looks at the key's head next
 *   BASE:blocked    sorted set (lexical) `POSITION|KEY`: first deliveries waiting for the barrier;
 *                   stale entries are allowed and skipped (a key's head or first delivery decides)
 *   BASE:at         hash JOBID -> POSITION of every unfinished delivery
 *   BASE:wm         hash SHARD -> that shard's watermark (a position; it only grows)
 *   BASE:stats      hash members, keys, heldKeys
 *   BASE:seq        counter for the positions of replayed dead letters
 * Positions have a fixed width (order-position.ts), so comparing them as strings orders them.
 */
import { POSITION_LENGTH, REPLAYED_SHARD } from './order-position.js';

/** How many first deliveries one script releases at most; the next call releases the rest. */
export const RELEASE_LIMIT = 1_000;

const COMMON = `
local base = ARGV[1]
local L = ${POSITION_LENGTH}
local headsKey = KEYS[1]
local checkKey = base .. ':check'
local blockedKey = base .. ':blocked'
local atKey = base .. ':at'
local wmKey = base .. ':wm'
local statsKey = base .. ':stats'
local function queueOf(key) return base .. ':q:' .. key end
local function lastOf(key) return base .. ':last:' .. key end
local function deadOf(key) return base .. ':dead:' .. key end

local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The lowest watermark of all shards (own: a fresher one for ownShard), nil while one is unknown.
local function barrier(shards, ownShard, own)
  local low = nil
  for shard = 0, shards - 1 do
    local mark
    if shard == ownShard and own then mark = own else mark = redis.call('HGET', wmKey, tostring(shard)) end
    if not mark then return nil end
    if not low or mark < low then low = mark end
  end
  return low
end

-- The key's head as {state, since, job}, or nil.
local function headOf(key)
  local value = redis.call('HGET', headsKey, key)
  if not value then return nil end
  local bar = string.find(value, '|', 3, true)
  return {string.sub(value, 1, 1), string.sub(value, 3, bar - 1), string.sub(value, bar + 1)}
end

local function setHead(key, state, t, job, grace)
  redis.call('HSET', headsKey, key, state .. '|' .. t .. '|' .. job)
  redis.call('ZADD', checkKey, t + grace, key)
end

local function firstOf(key)
  local first = redis.call('ZRANGE', queueOf(key), 0, 0)[1]
  if not first then return nil end
  return string.sub(first, 1, L), string.sub(first, L + 2)
end

local function insert(key, position, job)
  local queue = queueOf(key)
  local before = redis.call('ZCARD', queue)
  redis.call('ZADD', queue, 0, position .. '|' .. job)
  redis.call('HSET', atKey, job, position)
  redis.call('HINCRBY', statsKey, 'members', 1)
  if before == 0 then redis.call('HINCRBY', statsKey, 'keys', 1) end
  if before == 1 then redis.call('HINCRBY', statsKey, 'heldKeys', 1) end
end

local function remove(key, position, job)
  local queue = queueOf(key)
  redis.call('ZREM', queue, position .. '|' .. job)
  redis.call('HDEL', atKey, job)
  redis.call('HINCRBY', statsKey, 'members', -1)
  local after = redis.call('ZCARD', queue)
  if after == 0 then redis.call('HINCRBY', statsKey, 'keys', -1) end
  if after == 1 then redis.call('HINCRBY', statsKey, 'heldKeys', -1) end
end

-- A key without a head: release its first delivery if it lies before the barrier, else let it
-- wait for the barrier. Returns the job released, if any.
local function settle(key, limit, t, grace)
  if redis.call('HEXISTS', headsKey, key) == 1 then return nil end
  local position, job = firstOf(key)
  if not position then return nil end
  if limit and position < limit then
    setHead(key, 'r', t, job, grace)
    return job
  end
  redis.call('ZADD', blockedKey, 0, position .. '|' .. key)
  return nil
end

-- Drops a finished delivery (see FINISH); returns the key's next delivery if that is released
-- now, and whether the delivery was in the gate at all.
local function finishOne(key, job, outcome, limit, t, grace, lastTtl, deadTtl)
  local position = redis.call('HGET', atKey, job)
  if not position then return nil, false end
  remove(key, position, job)
  local head = headOf(key)
  if head and head[3] == job then
    redis.call('HDEL', headsKey, key)
    redis.call('ZREM', checkKey, key)
    -- Keys finish in position order, so this is the key's highest finished position.
    redis.call('SET', lastOf(key), position, 'PX', lastTtl)
  end
  if outcome == 'dead' then
    redis.call('ZADD', deadOf(key), 0, position .. '|' .. job)
    redis.call('PEXPIRE', deadOf(key), deadTtl)
  end
  return settle(key, limit, t, grace), true
end

-- Releases the waiting first deliveries that now lie before the barrier; returns their jobs.
local function releaseBlocked(limit, t, grace)
  local released = {}
  while #released < ${RELEASE_LIMIT} do
    local entry = redis.call('ZRANGE', blockedKey, 0, 0)[1]
    if not entry or string.sub(entry, 1, L) >= limit then break end
    redis.call('ZREM', blockedKey, entry)
    local job = settle(string.sub(entry, L + 2), limit, t, grace)
    if job then table.insert(released, job) end
  end
  return released
end
`;

/**
 * Enters deliveries, in position order. ARGV: base, shards, own shard, own watermark ('' none),
 * grace, then KEY, POSITION, JOBID for each. Returns {statuses, others}: per delivery 'released',
 * 'held' or 'done' (finished before: not entered again), and the jobs of earlier batches this
 * released (to promote). The own watermark is recorded as advance records one (it holds once the
 * batch is entered), so a finish before the batch's acknowledgement releases within the batch.
 */
export const ENTER = `${COMMON}
local t = now()
local shards, ownShard, own, grace = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
if own == '' then own = nil end
if own then
  local old = redis.call('HGET', wmKey, tostring(ownShard))
  if not old or own > old then redis.call('HSET', wmKey, tostring(ownShard), own) end
end
local limit = barrier(shards, ownShard, own)
local statuses, mine = {}, {}
local index = 0
for i = 6, #ARGV, 3 do
  index = index + 1
  local key, position, job = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('HEXISTS', atKey, job) == 1 then
    local head = headOf(key)
    if head and head[3] == job then statuses[index] = 'released' else statuses[index] = 'held' end
  else
    local last = redis.call('GET', lastOf(key))
    if last and position <= last then
      statuses[index] = 'done'
    else
      insert(key, position, job)
      statuses[index] = 'held'
      mine[job] = index
      if redis.call('HEXISTS', headsKey, key) == 0 then
        local first = firstOf(key)
        if first == position then
          -- A free key's first delivery before the barrier goes at once; else it waits for the barrier.
          if limit and position < limit then
            setHead(key, 'r', t, job, grace)
            statuses[index] = 'released'
          else
            redis.call('ZADD', blockedKey, 0, position .. '|' .. key)
          end
        end
      end
    end
  end
end
local others = {}
if limit then
  for _, job in ipairs(releaseBlocked(limit, t, grace)) do
    if mine[job] then statuses[mine[job]] = 'released' else table.insert(others, job) end
  end
end
return {statuses, others}`;

/**
 * A shard's watermark moved. ARGV: base, shards, shard, watermark, grace. Records it (it only
 * grows) and returns the jobs released by the new barrier (to promote).
 */
export const ADVANCE = `${COMMON}
local shard, mark = ARGV[3], ARGV[4]
local old = redis.call('HGET', wmKey, shard)
if not old or mark > old then redis.call('HSET', wmKey, shard, mark) end
local limit = barrier(tonumber(ARGV[2]))
if not limit then return {} end
return releaseBlocked(limit, now(), tonumber(ARGV[5]))`;

/**
 * May this delivery be attempted? ARGV: base, key, job, grace. 'go' (the key's released head: now
 * admitted), 'hold' (a later delivery of the key) or 'gone' (not in the gate: finished before).
 */
export const ADMIT = `${COMMON}
local key, job = ARGV[2], ARGV[3]
local head = headOf(key)
if head and head[3] == job then
  setHead(key, 'a', now(), job, tonumber(ARGV[4]))
  return 'go'
end
if redis.call('HEXISTS', atKey, job) == 1 then return 'hold' end
return 'gone'`;

/**
 * A delivery finished. ARGV: base, shards, key, job, outcome (delivered, dead, removed), grace,
 * last TTL ms, dead TTL ms. Returns {'finished', next job released} or {'absent'} when it was not
 * in the gate (finished already: calling twice is harmless).
 */
export const FINISH = `${COMMON}
local nextJob, found = finishOne(ARGV[3], ARGV[4], ARGV[5], barrier(tonumber(ARGV[2])), now(), tonumber(ARGV[6]), ARGV[7], ARGV[8])
if not found then return {'absent'} end
return {'finished', nextJob}`;

/**
 * Several deliveries finished with the same outcome (the heads a router's batch delivered), as
 * FINISH does each. ARGV: base, shards, outcome, grace, last TTL ms, dead TTL ms, then KEY, JOB
 * for each. Returns per delivery the next job released, or '' for none (or when it was not in
 * the gate).
 */
export const FINISH_MANY = `${COMMON}
local limit, t, grace = barrier(tonumber(ARGV[2])), now(), tonumber(ARGV[4])
local nexts = {}
for i = 7, #ARGV, 2 do
  local nextJob = finishOne(ARGV[i], ARGV[i + 1], ARGV[3], limit, t, grace, ARGV[5], ARGV[6])
  table.insert(nexts, nextJob or '')
end
return nexts`;

/**
 * Replayed dead letters enter their key again, behind its unfinished deliveries, in the order
 * given, at positions from the Redis clock and a counter. ARGV: base, shards, key, grace, then
 * ORIGINAL POSITION, JOBID for each. One already in the gate is left as it is. Returns the job
 * released, if any.
 */
export const REENTER = `${COMMON}
local key, grace = ARGV[3], tonumber(ARGV[4])
local t = now()
for i = 5, #ARGV, 2 do
  local original, job = ARGV[i], ARGV[i + 1]
  if redis.call('HEXISTS', atKey, job) == 0 then
    redis.call('ZREM', deadOf(key), original .. '|' .. job)
    local count = redis.call('INCR', base .. ':seq')
    insert(key, string.format('%016d-%020d-%05d', t, count, ${REPLAYED_SHARD}), job)
  end
end
return settle(key, barrier(tonumber(ARGV[2])), t, grace)`;
