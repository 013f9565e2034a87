/**
 * Reading an intake shard's watermark for the key gates (src/targets/order-position.ts): the first
 * entry not yet routed, or, when none is left, the stream's last id and the node's clock (every
 * later entry gets an id above both). Routers delete entries once routed, so the first remaining
 * entry is the first unrouted one. For a batch being routed, the first entry outside it: a fresh
 * batch is one contiguous range of the stream, so that is the first entry before or after it.
 * Our own Lua on the shard's stream alone (one slot); it writes nothing.
 */
import type { RedisConnection } from '../../src/redis/connection.js';
import type { WatermarkReading } from '../../src/targets/order-position.js';

/** KEYS: stream. ARGV: first and last id of the batch being routed ('' for none). */
const WATERMARK = `
local function firstId(range) if range[1] then return range[1][1] end return nil end
local id
if ARGV[1] ~= '' then
  id = firstId(redis.call('XRANGE', KEYS[1], '-', '(' .. ARGV[1], 'COUNT', 1))
    or firstId(redis.call('XRANGE', KEYS[1], '(' .. ARGV[2], '+', 'COUNT', 1))
else
  id = firstId(redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1))
end
if id then return {'first', id} end
local t = redis.call('TIME')
local last = ''
if redis.call('EXISTS', KEYS[1]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[1])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then last = info[i + 1] end
  end
end
return {'after', last, tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))}`;

interface WatermarkCommand {
  zegoRelayIntakeWatermark(stream: string, first: string, last: string): Promise<string[]>;
}

/** The watermark of `stream`, outside `batch` (its first and last entry id) when one is being routed. */
export async function readWatermark(connection: RedisConnection, stream: string, batch?: { first: string; last: string }): Promise<WatermarkReading> {
  const commands = connection as RedisConnection & Partial<WatermarkCommand>;
  if (!commands.zegoRelayIntakeWatermark) connection.defineCommand('zegoRelayIntakeWatermark', { numberOfKeys: 1, lua: WATERMARK });
  const [kind, id, clock] = await (commands as RedisConnection & WatermarkCommand).zegoRelayIntakeWatermark(stream, batch?.first ?? '', batch?.last ?? '');
  if (kind === 'first') return { kind: 'first', entryId: id! };
  return { kind: 'after', lastEntryId: id ? id : undefined, clockMs: Number(clock) };
}
