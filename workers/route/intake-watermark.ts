/**
 * Reading an intake shard's watermark for the key gates (src/targets/order-position.ts): the first
 * entry not yet routed, or, when none is left, the stream's last id and the node's clock (every
 * later entry gets an id above both). Routers delete entries once routed, so the first remaining
 * entry is the first unrouted one. For a batch being routed, the first entry outside it: a fresh
 * batch is one contiguous range of the stream, so that is the first entry before or after it.
 * Likewise outside every other range this process's lanes have already entered into the gates
 * (entered-ranges.ts): those entries are still in the stream until acknowledged, yet entered.
 * Our own Lua on the shard's stream alone (one slot); it writes nothing.
 */
import type { RedisConnection } from '../../src/redis/connection.js';
import type { WatermarkReading } from '../../src/targets/order-position.js';

/** KEYS: stream. ARGV: first and last id of each range to skip, ascending and disjoint (none: the whole stream). */
const WATERMARK = `
local function firstId(range) if range[1] then return range[1][1] end return nil end
local from = '-'
for i = 1, #ARGV, 2 do
  local id = firstId(redis.call('XRANGE', KEYS[1], from, '(' .. ARGV[i], 'COUNT', 1))
  if id then return {'first', id} end
  from = '(' .. ARGV[i + 1]
end
local id = firstId(redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', 1))
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
  zegoRelayIntakeWatermark(stream: string, ...bounds: string[]): Promise<string[]>;
}

/** An entered range of the stream: its first and last entry id. */
export interface EntryRange {
  readonly first: string;
  readonly last: string;
}

/**
 * The watermark of `stream`, outside `skip`: the batch being routed (one contiguous range) and
 * ranges already entered into the gates. The ranges may come in any order and overlap.
 */
export async function readWatermark(connection: RedisConnection, stream: string, skip: readonly EntryRange[] = []): Promise<WatermarkReading> {
  const commands = connection as RedisConnection & Partial<WatermarkCommand>;
  if (!commands.zegoRelayIntakeWatermark) connection.defineCommand('zegoRelayIntakeWatermark', { numberOfKeys: 1, lua: WATERMARK });
  const bounds = mergedRanges(skip).flatMap((range) => [range.first, range.last]);
  const [kind, id, clock] = await (commands as RedisConnection & WatermarkCommand).zegoRelayIntakeWatermark(stream, ...bounds);
  if (kind === 'first') return { kind: 'first', entryId: id! };
  return { kind: 'after', lastEntryId: id ? id : undefined, clockMs: Number(clock) };
}

/** Stream ids (`MS-SEQ`) compared as numbers. */
function compareIds(a: string, b: string): number {
  const [aMs, aSeq] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bMs, bSeq] = b.split('-').map(BigInt) as [bigint, bigint];
  return aMs !== bMs ? (aMs < bMs ? -1 : 1) : aSeq === bSeq ? 0 : aSeq < bSeq ? -1 : 1;
}

/** The ranges ascending, overlapping ones merged: what the script walks. */
export function mergedRanges(ranges: readonly EntryRange[]): EntryRange[] {
  const merged: { first: string; last: string }[] = [];
  for (const range of [...ranges].sort((a, b) => compareIds(a.first, b.first))) {
    const previous = merged.at(-1);
    if (previous && compareIds(range.first, previous.last) <= 0) {
      if (compareIds(range.last, previous.last) > 0) previous.last = range.last;
    } else merged.push({ first: range.first, last: range.last });
  }
  return merged;
}
